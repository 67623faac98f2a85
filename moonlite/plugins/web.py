"""The web-facing mixins: SimpleApiPlugin, BlueprintPlugin (aiohttp routes) and AssetPlugin."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from moonlite.plugins.core import MoonlitePlugin, RestartNeedingPlugin

F = TypeVar("F", bound=Callable[..., Any])

#: what a plugin's web handler may return: a response, JSON-able data, text, bytes or None
HandlerResult = web.StreamResponse | dict[str, Any] | list[Any] | str | bytes | None


class SimpleApiPlugin(MoonlitePlugin):
    """One JSON resource at `/api/plugin/<identifier>`: GET and POSTed commands.

    POST bodies must be JSON objects with a `command` named by `get_api_commands`; missing
    mandatory parameters are answered with 400 naming them. A handler returning None gives
    204; a dict or list is sent as JSON; an aiohttp response is sent as is.
    """

    def get_api_commands(self) -> dict[str, list[str]]:
        """Accepted commands and, for each, the names of its mandatory parameters."""
        return {}

    def on_api_command(self, command: str, data: dict[str, Any]) -> Any:
        """Handle a POSTed command; `data` is the whole body (with `command`)."""
        return None

    def on_api_get(self, request: web.Request) -> Any:
        """Handle a GET."""
        return None

    def is_api_adminonly(self) -> bool:
        """Whether only admins (API key, trusted clients, `admin_users`) may call the API."""
        return False


@dataclass(frozen=True)
class RouteSpec:
    """One blueprint route: a rule relative to `/plugin/<identifier>` and its methods."""

    rule: str
    methods: tuple[str, ...]


_FLASK_VARIABLE = re.compile(r"<(?:(\w+):)?(\w+)>")
_CONVERTERS = {"int": r"\d+", "float": r"\d+(?:\.\d+)?", "path": r".+", "string": r"[^/]+"}


def aiohttp_rule(rule: str) -> str:
    """Flask's `<int:id>`/`<path:p>`/`<name>` variables in aiohttp's `{id:\\d+}` syntax."""

    def convert(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        pattern = _CONVERTERS.get(converter or "string", r"[^/]+")
        return "{" + name + ("" if pattern == r"[^/]+" else ":" + pattern) + "}"

    return _FLASK_VARIABLE.sub(convert, rule)


class BlueprintPlugin(RestartNeedingPlugin):
    """Routes under `/plugin/<identifier>/`, as aiohttp handlers `(self, request)`.

    Decorate methods with `@BlueprintPlugin.route("/echo", methods=["GET"])`. Flask-style
    `<int:id>` variables are accepted; they arrive in `request.match_info`.
    """

    @staticmethod
    def route(rule: str, **options: Any) -> Callable[[F], F]:
        """Serve the decorated method at `rule` (`methods=[...]`, default GET)."""
        methods = tuple(m.upper() for m in options.get("methods", ("GET",)))

        def mark(func: F) -> F:
            specs: list[RouteSpec] = getattr(func, "__moonlite_routes__", [])
            specs.append(RouteSpec(rule, methods))
            func.__moonlite_routes__ = specs  # type: ignore[attr-defined]
            return func

        return mark

    @staticmethod
    def csrf_exempt() -> Callable[[F], F]:
        """Exempt the decorated route from CSRF protection."""

        def mark(func: F) -> F:
            func.__moonlite_csrf_exempt__ = True  # type: ignore[attr-defined]
            return func

        return mark

    @staticmethod
    def errorhandler(code_or_exception: int | type[Exception]) -> Callable[[F], F]:
        """Handle errors (an HTTP status or an exception class) of this blueprint's routes.

        The handler is called as `(self, error)` and returns like a route.
        """

        def mark(func: F) -> F:
            handled: list[int | type[Exception]] = getattr(func, "__moonlite_errors__", [])
            handled.append(code_or_exception)
            func.__moonlite_errors__ = handled  # type: ignore[attr-defined]
            return func

        return mark

    def get_blueprint_routes(self) -> list[tuple[RouteSpec, Callable[..., Any]]]:
        """Every decorated route with its bound handler (override to build routes yourself)."""
        found = []
        for attr in dir(type(self)):
            func = getattr(type(self), attr, None)
            for spec in getattr(func, "__moonlite_routes__", ()):
                found.append((spec, getattr(self, attr)))
        return found

    def get_blueprint_error_handlers(self) -> list[tuple[int | type[Exception],
                                                         Callable[..., Any]]]:
        """Every decorated error handler with what it handles."""
        found = []
        for attr in dir(type(self)):
            func = getattr(type(self), attr, None)
            for handled in getattr(func, "__moonlite_errors__", ()):
                found.append((handled, getattr(self, attr)))
        return found

    def get_blueprint_kwargs(self) -> dict[str, Any]:
        """Options of the blueprint (kept for OctoPrint compatibility; unused)."""
        return {}

    def get_blueprint_api_prefixes(self) -> list[str] | None:
        """Route prefixes that are an API (JSON errors); None means every route."""
        return None

    def is_blueprint_protected(self) -> bool:
        """Whether the routes need a credential (static assets never do)."""
        return True

    def is_blueprint_csrf_protected(self) -> bool:
        """Whether state-changing requests need CSRF protection (default False, as in
        OctoPrint 1.8.3; override it: moonlite logs a warning when it is not)."""
        return False


class AssetPlugin(RestartNeedingPlugin):
    """Static files served at `/plugin/<identifier>/static/<path>` (no credential needed)."""

    def get_asset_folder(self) -> str:
        """The folder of the assets (default: `<basefolder>/static`)."""
        return f"{self._basefolder}/static"

    def get_assets(self) -> dict[str, list[str]]:
        """Asset files by type (js, jsclient, css, less), relative to the asset folder."""
        return {}
