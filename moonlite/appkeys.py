"""Typed keys for the aiohttp application and requests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from moonlite.server import Host

HOST: web.AppKey[Host] = web.AppKey("moonlite_host")
#: the authenticated user of a request (None when anonymous)
USER: web.RequestKey[dict[str, Any] | None] = web.RequestKey("moonlite_user", object)  # type: ignore[arg-type]


def request_user(request: web.Request) -> dict[str, Any] | None:
    """The user the authentication middleware attached to `request`."""
    return request.get(USER)
