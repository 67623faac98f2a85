"""Authentication: every route needs a credential unless its handler is marked public."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from moonlite.appkeys import HOST, USER

F = TypeVar("F", bound=Callable[..., Any])


def public(check: Callable[[web.Request], bool] | bool = True) -> Callable[[F], F]:
    """Mark a handler as needing no credential (always, or when `check(request)` is true)."""

    def mark(handler: F) -> F:
        handler.__moonlite_public__ = check  # type: ignore[attr-defined]
        return handler

    return mark


def _is_public(handler: Any, request: web.Request) -> bool:
    check = getattr(handler, "__moonlite_public__", False)
    return bool(check(request)) if callable(check) else bool(check)


@web.middleware
async def authentication_middleware(request: web.Request, handler: Handler
                                    ) -> web.StreamResponse:
    """Attach the caller's user to the request; refuse protected routes without one (401)."""
    auth = request.app[HOST].auth
    user = auth.authenticate_http(request, allow_anonymous=True)
    request[USER] = user
    route_handler = request.match_info.handler
    if user is None and not _is_public(route_handler, request):
        raise web.HTTPUnauthorized(reason="Unauthorized")
    return await handler(request)
