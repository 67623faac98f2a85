"""The HTTP transport of the API: Moonraker paths, argument parsing, result wrapping, JSON-RPC."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import MultiMapping

from moonlite.appkeys import HOST, request_user
from moonlite.middleware import error_response, public
from moonlite.rpc import (
    ApiError,
    Dispatcher,
    Registry,
    Request,
    RpcError,
    Transport,
    loads_request,
)

if TYPE_CHECKING:
    from moonlite.server import Host

IGNORED_ARGS = {"_", "token", "access_token", "connection_id"}
MAX_BODY = 50 * 1024 * 1024
JSON_TYPE = "application/json"


def _convert_hint(key: str, value: str) -> tuple[str, Any]:
    name, sep, hint = key.rpartition(":")
    if not sep or hint not in ("int", "float", "bool", "json", "str"):
        return key, value
    try:
        if hint == "int":
            return name, int(value)
        if hint == "float":
            return name, float(value)
        if hint == "bool":
            lowered = value.lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return name, lowered in ("true", "1")
        if hint == "json":
            return name, loads_request(value)
    except ValueError:
        raise ApiError(f"Invalid value for argument '{name}' ({hint}): {value!r}", 400) \
            from None
    return name, value


def hinted_args(query: MultiMapping[Any]) -> dict[str, Any]:
    """Query-string or form arguments with Moonraker's `key:int|float|bool|json` hints applied.

    Form fields that are not text (uploaded files) are left out.
    """
    args: dict[str, Any] = {}
    for key, value in query.items():
        if key in IGNORED_ARGS or not isinstance(value, str):
            continue
        name, converted = _convert_hint(key, value)
        args[name] = converted
    return args


def objects_from_args(args: dict[str, Any]) -> dict[str, Any]:
    """`?toolhead=position,homed_axes&print_stats` -> `{"objects": {...}}` (printer/objects)."""
    if "objects" in args:
        return args
    objects: dict[str, list[str] | None] = {}
    for key, value in args.items():
        if isinstance(value, str):
            fields = [f for f in value.split(",") if f]
            objects[key] = fields or None
        else:
            objects[key] = value
    return {"objects": objects}


async def parse_args(request: web.Request) -> dict[str, Any]:
    """Query string, then form fields, then a JSON body on top (body values win)."""
    args = hinted_args(request.query)
    if not request.body_exists:
        return args
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError("Request body too large", 413)
    ctype = request.content_type
    if ctype.startswith(JSON_TYPE):
        raw = await request.read()
        if raw.strip():
            try:
                body = loads_request(raw)
            except ValueError as exc:
                raise ApiError(f"Invalid JSON body: {exc}", 400) from None
            if not isinstance(body, dict):
                raise ApiError("JSON body must be an object", 400)
            args.update(body)
    elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        args.update(hinted_args(await request.post()))
    return args


def _json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type=JSON_TYPE,
                        charset="utf-8")


class HttpApi:
    """aiohttp handlers that serve the registry over HTTP."""

    def __init__(self, host: Host, registry: Registry, dispatcher: Dispatcher) -> None:
        self.host = host
        self.registry = registry
        self.dispatcher = dispatcher
        self._paths: set[str] = set()

    def routes(self) -> list[web.AbstractRouteDef]:
        """The routes of the HTTP API (the catch-all goes last)."""
        return [
            web.post("/server/jsonrpc", self.jsonrpc),
            web.get("/server/openapi.json", self.openapi),
            web.route("*", "/{path:(printer|server|machine|access|api|debug)/.*}", self.dispatch),
        ]

    @public()
    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        """Serve one registered method at its Moonraker path."""
        path = request.path.rstrip("/") or "/"
        verb = "GET" if request.method == "HEAD" else request.method
        method = self.registry.routes.get((verb, path))
        if method is None:
            allowed = sorted(v for (v, p) in self.registry.routes if p == path)
            if allowed:
                raise web.HTTPMethodNotAllowed(request.method, allowed)
            return error_response(404, "Not Found")
        user = request_user(request)
        if method.auth and user is None:
            return error_response(401, "Unauthorized")
        args = await parse_args(request)
        if path.startswith("/printer/objects/"):
            args = objects_from_args(args)
        ctx = Request(transport=Transport.HTTP, ip=request.remote, user=user,
                      http_request=request, raw_args=args)
        result = await method.call(args, ctx)
        if not method.wrap_result:
            if isinstance(result, web.StreamResponse):
                return result
            return _json_response(result)
        if result is None:
            return web.Response(status=204)
        return _json_response({"result": result})

    @public()
    async def jsonrpc(self, request: web.Request) -> web.StreamResponse:
        """`POST /server/jsonrpc`: a JSON-RPC body over HTTP."""
        if not request.content_type.startswith(JSON_TYPE):
            raise ApiError("Content-Type must be application/json", 415)
        raw = await request.read()
        ctx = Request(transport=Transport.HTTP, ip=request.remote, user=request_user(request),
                      http_request=request)
        try:
            reply = await self.dispatcher.handle_text(raw, ctx)
        except RpcError as exc:
            raise ApiError(exc.message, exc.http_status) from None
        if reply is None:
            return web.Response(status=204)
        return web.Response(text=reply, content_type=JSON_TYPE, charset="utf-8")

    @public()
    async def openapi(self, request: web.Request) -> web.StreamResponse:
        """The OpenAPI document of the HTTP side, generated from the registry."""
        return _json_response(openapi_document(self.registry, request.app[HOST].version))


def openapi_document(registry: Registry, version: str) -> dict[str, Any]:
    """An OpenAPI 3.1 description of every HTTP-served method."""
    paths: dict[str, dict[str, Any]] = {}
    for (verb, path), method in sorted(registry.routes.items(), key=lambda kv: kv[0][1]):
        schema = method.params_model.model_json_schema()
        props: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        first, _, description = method.doc.partition("\n\n")
        summary = " ".join(first.split())
        op: dict[str, Any] = {
            "operationId": method.name if len(method.verbs) == 1
            else f"{method.name}_{verb.lower()}",
            "summary": summary or method.name,
            "description": description.strip() + f"\n\nJSON-RPC method: `{method.name}`",
            "responses": {
                "200": {"description": 'Success: `{"result": ...}`'},
                "400": {"description": "Invalid or missing parameter"},
                **({"401": {"description": "Unauthorized"}} if method.auth else {}),
            },
        }
        if not method.auth:
            op["security"] = []
        if verb in ("GET", "DELETE"):
            op["parameters"] = [
                {"name": name, "in": "query", "required": name in required,
                 "schema": prop} for name, prop in props.items()
            ]
        elif props:
            op["requestBody"] = {"content": {JSON_TYPE: {"schema": {
                "type": "object", "properties": props, "required": sorted(required),
                "$defs": schema.get("$defs", {})}}}}
        paths.setdefault(path, {})[verb.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "moonlite API", "version": version,
                 "description": "Moonraker-compatible HTTP API. Every method is also served as "
                                "JSON-RPC 2.0 over /websocket and POST /server/jsonrpc."},
        "components": {"securitySchemes": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "security": [{"apiKey": []}, {"bearer": []}],
        "paths": paths,
    }
