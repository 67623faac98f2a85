"""aiohttp routes of the plugins: simple APIs, blueprints, static assets, webcam snapshots."""

from __future__ import annotations

import asyncio
import html
import inspect
import json
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from moonlite.appkeys import request_user
from moonlite.middleware import error_response, public
from moonlite.plugins.settings import ADMIN
from moonlite.plugins.types import WebcamProviderPlugin
from moonlite.plugins.web import AssetPlugin, BlueprintPlugin, SimpleApiPlugin, aiohttp_rule

if TYPE_CHECKING:
    from moonlite.plugins.manager import PluginManager

log = logging.getLogger(__name__)
JSON_TYPE = "application/json"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_COOKIE = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def to_response(result: Any) -> web.StreamResponse:
    """A handler's return value as a response (None -> 204, dict/list -> JSON, ...)."""
    status = 200
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], int):
        result, status = result
    if isinstance(result, web.StreamResponse):
        return result
    if result is None:
        return web.Response(status=204)
    if isinstance(result, (dict, list)):
        return web.Response(text=json.dumps(result), status=status, content_type=JSON_TYPE)
    if isinstance(result, bytes):
        return web.Response(body=result, status=status,
                            content_type="application/octet-stream")
    return web.Response(text=str(result), status=status, content_type="text/html")


class PluginRoutes:
    """Builds the routes; every handler checks that its plugin still runs."""

    def __init__(self, manager: PluginManager) -> None:
        self.manager = manager

    def routes(self) -> list[web.AbstractRouteDef]:
        """Every plugin route (static and snapshots first, so blueprints cannot shadow them)."""
        routes: list[web.AbstractRouteDef] = [
            web.get("/plugin/{identifier}/static/{path:.+}", self.asset),
            web.get("/plugin/{identifier}/webcam/{name}/snapshot", self.snapshot),
            web.get("/api/plugin/{identifier}", self.simple_api_get),
            web.post("/api/plugin/{identifier}", self.simple_api_post),
        ]
        for plugin in self.manager.implementations(BlueprintPlugin):
            routes.extend(self._blueprint_routes(plugin))
        return routes

    # -- simple API -----------------------------------------------------------------------

    def _simple_api_plugin(self, request: web.Request) -> SimpleApiPlugin:
        identifier = request.match_info["identifier"]
        plugin = self.manager.get_plugin(identifier)
        if not isinstance(plugin, SimpleApiPlugin):
            raise web.HTTPNotFound(reason=f"No plugin with a simple API: {identifier}")
        if self.manager.call_sync(plugin, "is_api_adminonly", default=True) and \
                self.manager.role_of(request_user(request)) < ADMIN:
            raise web.HTTPForbidden(reason="This plugin's API is for admins only")
        return plugin

    async def simple_api_get(self, request: web.Request) -> web.StreamResponse:
        """`GET /api/plugin/<identifier>` -> on_api_get(request)."""
        plugin = self._simple_api_plugin(request)
        return await self._run(plugin, "on_api_get", request)

    async def simple_api_post(self, request: web.Request) -> web.StreamResponse:
        """`POST /api/plugin/<identifier>`: a JSON command with its mandatory parameters."""
        plugin = self._simple_api_plugin(request)
        if not request.content_type.startswith(JSON_TYPE):
            return error_response(400, "Expected content-type JSON")
        try:
            data = json.loads(await request.read() or b"null")
        except ValueError:
            return error_response(400, "Malformed JSON body in request")
        if not isinstance(data, dict):
            return error_response(400, "Expected a JSON object")
        commands = self.manager.call_sync(plugin, "get_api_commands", default={}) or {}
        command = data.get("command")
        if not isinstance(command, str) or command not in commands:
            return error_response(400, f"Unknown command: {command}" if command
                                  else "No command given")
        missing = [p for p in commands[command] if p not in data]
        if missing:
            return error_response(400, "Mandatory parameter missing for command "
                                       f"{command}: {', '.join(missing)}")
        return await self._run(plugin, "on_api_command", command, data)

    async def _run(self, plugin: Any, hook: str, *args: Any) -> web.StreamResponse:
        try:
            result = await self.manager.call(plugin, hook, *args, raise_errors=True)
        except web.HTTPException:
            raise
        except Exception as exc:
            return error_response(500, f"Plugin {plugin._identifier} failed: {exc}")
        return to_response(result)

    # -- blueprints -----------------------------------------------------------------------

    def _blueprint_routes(self, plugin: BlueprintPlugin) -> list[web.AbstractRouteDef]:
        manager = self.manager
        identifier = plugin._identifier
        protected = bool(manager.call_sync(plugin, "is_blueprint_protected", default=True))
        if type(plugin).is_blueprint_csrf_protected is BlueprintPlugin.is_blueprint_csrf_protected:
            plugin._logger.warning(
                "plugin %s does not say whether its blueprint is CSRF protected "
                "(override is_blueprint_csrf_protected); it is not", identifier)
        csrf = bool(manager.call_sync(plugin, "is_blueprint_csrf_protected", default=True))
        routes = manager.call_sync(plugin, "get_blueprint_routes", default=[]) or []
        out: list[web.AbstractRouteDef] = []
        for spec, func in routes:
            rule = aiohttp_rule(spec.rule if spec.rule.startswith("/") else "/" + spec.rule)
            path = f"/plugin/{identifier}{rule}"
            exempt = bool(getattr(func, "__moonlite_csrf_exempt__", False))
            handler = self._blueprint_handler(plugin, func, csrf and not exempt)
            if not protected:
                handler = public()(handler)
            for method in spec.methods:
                out.append(web.route(method, path, handler))
        return out

    def _blueprint_handler(self, plugin: BlueprintPlugin, func: Callable[..., Any],
                           csrf: bool) -> Handler:
        manager = self.manager

        async def handle(request: web.Request) -> web.StreamResponse:
            if manager.get_plugin(plugin._identifier) is None:
                return error_response(503, f"Plugin {plugin._identifier} is not running")
            if csrf and request.method in UNSAFE_METHODS and not _csrf_ok(request):
                return await self._error(plugin, request, web.HTTPBadRequest(
                    reason="CSRF validation failed"), 400, "CSRF validation failed")
            try:
                result = func(request)
                if inspect.isawaitable(result):
                    result = await result
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                return await self._error(plugin, request, exc, exc.status,
                                         exc.text if exc.text and not exc.text.startswith(
                                             str(exc.status)) else exc.reason)
            except Exception as exc:
                manager._record(plugin, getattr(func, "__name__", "route"), exc)
                return await self._error(plugin, request, exc, 500,
                                         f"Plugin {plugin._identifier} failed: {exc}")
            return to_response(result)

        return handle

    async def _error(self, plugin: BlueprintPlugin, request: web.Request, exc: Exception,
                     status: int, message: str) -> web.StreamResponse:
        handlers = self.manager.call_sync(plugin, "get_blueprint_error_handlers",
                                          default=[]) or []
        for handled, func in handlers:
            if handled == status or (isinstance(handled, type) and isinstance(exc, handled)):
                try:
                    result = func(exc)
                    if inspect.isawaitable(result):
                        result = await result
                    return to_response(result)
                except Exception as err:
                    self.manager._record(plugin, "errorhandler", err)
                    break
        prefixes = self.manager.call_sync(plugin, "get_blueprint_api_prefixes")
        relative = request.path[len(f"/plugin/{plugin._identifier}"):] or "/"
        if prefixes is None or any(relative.startswith(p) for p in prefixes):
            return error_response(status, message)
        body = f"<html><body><h1>{status}</h1><p>{html.escape(message)}</p></body></html>"
        return web.Response(status=status, text=body, content_type="text/html")

    # -- assets and snapshots -------------------------------------------------------------

    @public()
    async def asset(self, request: web.Request) -> web.StreamResponse:
        """`GET /plugin/<identifier>/static/<path>`: a file of the plugin's asset folder."""
        plugin = self.manager.get_plugin(request.match_info["identifier"])
        if not isinstance(plugin, AssetPlugin):
            raise web.HTTPNotFound(reason="No such plugin asset")
        folder_text = self.manager.call_sync(plugin, "get_asset_folder")
        if not folder_text:
            raise web.HTTPNotFound(reason="No such plugin asset")
        folder = Path(folder_text).resolve()
        target = (folder / request.match_info["path"]).resolve()
        if not target.is_relative_to(folder) or not target.is_file():
            raise web.HTTPNotFound(reason="No such plugin asset")
        return web.FileResponse(target)

    async def snapshot(self, request: web.Request) -> web.StreamResponse:
        """`GET /plugin/<identifier>/webcam/<name>/snapshot`: a JPEG from the provider."""
        identifier, name = request.match_info["identifier"], request.match_info["name"]
        plugin = self.manager.get_plugin(identifier)
        if not isinstance(plugin, WebcamProviderPlugin):
            raise web.HTTPNotFound(reason=f"No webcam provider: {identifier}")
        try:
            data = await self.manager.call(plugin, "take_webcam_snapshot", name,
                                           raise_errors=True)
            body = await _collect(data)
        except Exception as exc:
            return error_response(500, f"Snapshot of webcam {name} failed: {exc}")
        return web.Response(body=body, content_type="image/jpeg")


async def _collect(data: Any) -> bytes:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, AsyncIterable):
        return b"".join([chunk async for chunk in data])
    if isinstance(data, Iterable):
        # a plain iterator may read a device: collect it in a worker thread
        return await asyncio.to_thread(lambda: b"".join(data))
    raise TypeError("take_webcam_snapshot returned no bytes")


def _csrf_ok(request: web.Request) -> bool:
    """Header credentials cannot be forged cross-site; otherwise the double-submit token."""
    if request.headers.get("X-Api-Key") or request.headers.get("Authorization"):
        return True
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    return bool(cookie) and cookie == header
