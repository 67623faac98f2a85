"""The host's own API: server.info, server.config, restart, log rollover, connection identity."""

from __future__ import annotations

import logging
import logging.handlers
from typing import TYPE_CHECKING, Any

from aiohttp import web

from moonlite.middleware import public
from moonlite.rpc import ApiError, Request, Transport, api

if TYPE_CHECKING:
    from moonlite.server import Host

log = logging.getLogger(__name__)

#: what Mainsail and Fluidd check: moonraker_version >= v0.8.0-309, api 1.5.0
MOONRAKER_VERSION = "v0.11.0-1-moonlite"
API_VERSION = [1, 5, 0]


class ServerApi:
    """Core endpoints every client calls first."""

    def __init__(self, host: Host) -> None:
        self.host = host

    @public()
    async def welcome(self, request: web.Request) -> web.StreamResponse:
        """`GET /`: a short page saying what this is."""
        return web.Response(
            text=f"<html><body><h1>moonlite {self.host.version}</h1><p>Moonraker-compatible "
                 "API at /websocket and /server, /printer, /machine, /access. OpenAPI document: "
                 "<a href='/server/openapi.json'>/server/openapi.json</a>.</p></body></html>",
            content_type="text/html")

    @api("server.info")
    async def info(self) -> dict[str, Any]:
        """Server state, loaded components and versions (what frontends check first)."""
        host = self.host
        state = host.klippy_state
        return {
            "klippy_connected": state not in ("disconnected",),
            "klippy_state": state,
            "components": ["websockets", *host.components.keys()],
            "failed_components": list(host.failed_components),
            "registered_directories": list(host.registered_directories),
            "warnings": list(host.warnings),
            "websocket_count": len(host.websockets),
            "moonraker_version": MOONRAKER_VERSION,
            "moonlite_version": host.version,
            "missing_klippy_requirements": [],
            "api_version": API_VERSION,
            "api_version_string": ".".join(str(v) for v in API_VERSION),
            **_plugin_summary(host),
        }

    @api("server.config")
    async def config(self) -> dict[str, Any]:
        """The configuration: raw sections, the parsed values and the files they came from."""
        host = self.host
        raw = host.config.as_dict()
        parsed: dict[str, Any] = {
            "server": host.server_config.model_dump(),
            "authorization": host.auth.config.model_dump(),
        }
        for name, comp in host.components.items():
            cfg = comp.config
            if hasattr(cfg, "model_dump"):
                parsed[name] = cfg.model_dump(mode="json")
        files: dict[str, list[str]] = {}
        for section in host.config.sections.values():
            if section.file is not None:
                files.setdefault(str(section.file), []).append(section.name)
        return {"config": parsed, "orig": raw,
                "files": [{"filename": f, "sections": s} for f, s in files.items()]}

    @api("server.restart", "POST")
    async def restart(self) -> str:
        """Restart the server (components are reloaded from the config)."""
        self.host.request_restart()
        return "ok"

    @api("server.logs.rollover", "POST")
    async def logs_rollover(self, application: str | None = None) -> dict[str, Any]:
        """Start a new log file (the old one is kept as `moonlite.log.1`, …)."""
        if application not in (None, "", "moonlite", "moonraker"):
            raise ApiError(f"Unknown application {application}", 400)
        handler = self.host.log_handler
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            handler.doRollover()
            return {"rolled_over": ["moonlite"], "failed": {}}
        return {"rolled_over": [], "failed": {"moonlite": "logging to a file is disabled"}}

    @api("server.connection.identify", "POST", transports=Transport.WEBSOCKET, auth=False)
    async def identify(self, request: Request, client_name: str, version: str, type: str,
                       url: str, access_token: str | None = None,
                       api_key: str | None = None) -> dict[str, Any]:
        """Tell the server who this websocket client is (and optionally authenticate it)."""
        conn = request.connection
        if conn.identified:
            raise ApiError(f"Connection already identified: {conn.id}", 400)
        auth = self.host.auth
        if access_token:
            conn.user = auth.user_from_token(access_token)
        elif api_key:
            user = auth.api_key_user(api_key)
            if user is None:
                raise ApiError("Invalid API key", 401)
            conn.user = user
        if conn.user is None:
            raise ApiError("Unauthorized", 401)
        if type not in ("web", "mobile", "desktop", "display", "bot", "agent", "other"):
            raise ApiError(f"Invalid Client Type: {type}", 400)
        conn.identified = True
        conn.client_name, conn.client_version, conn.client_type, conn.url = (
            client_name, version, type, url)
        log.info("websocket %d identified as %s %s (%s)", conn.id, client_name, version, type)
        return {"connection_id": conn.id}

    @api("server.websocket.id", transports=Transport.WEBSOCKET)
    async def websocket_id(self, request: Request) -> dict[str, Any]:
        """The id of this websocket connection."""
        return {"websocket_id": request.connection.id}


def _plugin_summary(host: Host) -> dict[str, Any]:
    """`plugins` (loaded) and `failed_plugins` from the plugins component."""
    summary = getattr(host.components.get("plugins"), "summary", None)
    return summary() if callable(summary) else {"plugins": [], "failed_plugins": []}
