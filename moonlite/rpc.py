"""JSON-RPC 2.0: the method registry, parameter validation, dispatch, errors and batches."""

from __future__ import annotations

import enum
import inspect
import json
import logging
import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


#: a JSON escape of a UTF-16 surrogate: only these can decode to a lone surrogate
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_request(text: str | bytes) -> Any:
    """Decode JSON from a client; ValueError for anything that could not be answered or stored.

    Besides malformed JSON this refuses NaN/Infinity (we would echo them as invalid JSON),
    nesting deep enough to exhaust the decoder's recursion, and lone UTF-16 surrogates (they
    cannot be encoded as UTF-8, so storing or logging them would fail later with a 500).
    """
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    pattern = _SURROGATE_ESCAPE_BYTES if isinstance(text, bytes) else _SURROGATE_ESCAPE
    if pattern.search(text):  # type: ignore[arg-type]
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("lone UTF-16 surrogate in a string") from None
    return value


class Transport(enum.Flag):
    """The transports a method is offered on."""

    HTTP = enum.auto()
    WEBSOCKET = enum.auto()
    INTERNAL = enum.auto()
    ALL = HTTP | WEBSOCKET | INTERNAL


class ApiError(Exception):
    """An error answered to the client: an HTTP status and a message (Moonraker's ServerError)."""

    def __init__(self, message: str, status: int = 400, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.data = data

    @property
    def rpc_code(self) -> int:
        """The JSON-RPC code: the status, except 404 -> -32601 and 401 -> -32602 (Moonraker)."""
        if self.status == 404:
            return METHOD_NOT_FOUND
        if self.status == 401:
            return INVALID_PARAMS
        return self.status


class InvalidParams(ApiError):
    """A missing or wrong-typed parameter: HTTP 400, JSON-RPC -32602 (the message names it)."""

    @property
    def rpc_code(self) -> int:
        """Always -32602, whatever the HTTP status."""
        return INVALID_PARAMS


class RpcError(Exception):
    """A JSON-RPC protocol error with its code (parse error, invalid request, ...)."""

    def __init__(self, code: int, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


@dataclass
class Request:
    """Context of one API call, injected into methods that declare a `Request` parameter."""

    transport: Transport
    ip: str | None = None
    user: dict[str, Any] | None = None
    connection: Any = None  # websocket.Connection when called over the websocket
    http_request: Any = None  # aiohttp.web.Request when called over HTTP
    raw_args: dict[str, Any] = field(default_factory=dict)


class _ParamsBase(BaseModel):
    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)


@dataclass
class ApiMethod:
    """One registered API method: its names, transports, auth and validated parameters."""

    name: str
    func: Callable[..., Awaitable[Any]]
    verbs: tuple[str, ...]
    path: str | None
    transports: Transport
    auth: bool
    #: the typed parameters (name -> (annotation, default)) the params model is made of
    param_fields: dict[str, Any]
    request_param: str | None
    doc: str
    wrap_result: bool = True
    _params_model: type[BaseModel] | None = None

    @property
    def params_model(self) -> type[BaseModel]:
        """The pydantic model validating the parameters, built on first use.

        Built lazily because each model costs ~16 kB and start-up time, and most methods are
        never called in a process's life.
        """
        if self._params_model is None:
            model_name = "Params_" + self.name.replace(".", "_")
            self._params_model = create_model(model_name, __base__=_ParamsBase,
                                              **self.param_fields)
        return self._params_model

    async def call(self, args: dict[str, Any], request: Request) -> Any:
        """Validate `args` and run the method."""
        try:
            params = self.params_model.model_validate(args)
        except ValidationError as exc:
            raise InvalidParams(_params_message(exc), 400) from None
        kwargs = {name: getattr(params, name) for name in type(params).model_fields}
        if self.request_param:
            kwargs[self.request_param] = request
        return await self.func(**kwargs)


def _params_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "params"
        if err.get("type") == "missing":
            parts.append(f"No data for argument: {loc}")
        else:
            parts.append(f"Invalid argument '{loc}': {err.get('msg')}")
    return "; ".join(parts)


@dataclass
class _ApiSpec:
    name: str
    verbs: tuple[str, ...]
    path: str | None
    transports: Transport
    auth: bool
    wrap_result: bool


def http_path_for(name: str, verb: str) -> str:
    """Moonraker's naming rule: `server.database.get_item` by GET is /server/database/item."""
    parts = name.split(".")
    prefix = verb.lower() + "_"
    if parts[-1].startswith(prefix):
        parts[-1] = parts[-1][len(prefix):]
    return "/" + "/".join(parts)


def api(
    name: str,
    verb: str = "GET",
    *,
    verbs: tuple[str, ...] | None = None,
    path: str | None = None,
    transports: Transport = Transport.ALL,
    auth: bool = True,
    wrap_result: bool = True,
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Declare a component method as an API method, served over JSON-RPC and HTTP.

    The HTTP path follows Moonraker's naming rule unless `path` is given; a method offered only
    on the websocket has no path.
    """
    verb_list = tuple(v.upper() for v in (verbs or (verb,)))
    if Transport.HTTP in transports:
        http_path = path or http_path_for(name, verb_list[0])
    else:
        http_path = None

    def mark(func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        specs: list[_ApiSpec] = getattr(func, "__moonlite_api__", [])
        specs.append(_ApiSpec(name, verb_list, http_path, transports, auth, wrap_result))
        func.__moonlite_api__ = specs  # type: ignore[attr-defined]
        return func

    return mark


def _param_fields(func: Callable[..., Any]) -> tuple[dict[str, Any], str | None]:
    sig = inspect.signature(func)
    hints = typing.get_type_hints(func)
    fields: dict[str, Any] = {}
    request_param = None
    for pname, param in sig.parameters.items():
        if pname == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        annotation = hints.get(pname, Any)
        if annotation is Request:
            request_param = pname
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (annotation, default)
    return fields, request_param


class Registry:
    """Every API method by JSON-RPC name and by (HTTP verb, path)."""

    def __init__(self) -> None:
        self.methods: dict[str, ApiMethod] = {}
        self.routes: dict[tuple[str, str], ApiMethod] = {}

    def register(
        self,
        name: str,
        func: Callable[..., Awaitable[Any]],
        *,
        verbs: tuple[str, ...] = ("GET",),
        path: str | None = None,
        transports: Transport = Transport.ALL,
        auth: bool = True,
        wrap_result: bool = True,
    ) -> ApiMethod:
        """Register a bound coroutine function under `name` (and its HTTP route)."""
        if name in self.methods:
            raise ValueError(f"API method {name} registered twice")
        fields, request_param = _param_fields(func)
        method = ApiMethod(
            name=name, func=func, verbs=verbs, path=path, transports=transports, auth=auth,
            param_fields=fields, request_param=request_param,
            doc=inspect.cleandoc(func.__doc__ or ""), wrap_result=wrap_result,
        )
        self.methods[name] = method
        if path and Transport.HTTP in transports:
            for verb in verbs:
                key = (verb, path)
                if key in self.routes:
                    raise ValueError(f"HTTP route {verb} {path} registered twice")
                self.routes[key] = method
        return method

    def register_object(self, obj: object) -> list[ApiMethod]:
        """Register every `@api`-decorated method of `obj`."""
        found = []
        for attr in dir(type(obj)):
            func = getattr(type(obj), attr, None)
            specs: list[_ApiSpec] | None = getattr(func, "__moonlite_api__", None)
            if not specs:
                continue
            bound = getattr(obj, attr)
            for spec in specs:
                found.append(
                    self.register(
                        spec.name, bound, verbs=spec.verbs, path=spec.path,
                        transports=spec.transports, auth=spec.auth,
                        wrap_result=spec.wrap_result,
                    )
                )
        return found

    def unregister(self, name: str) -> None:
        """Remove a method and its routes (used when a component unloads)."""
        method = self.methods.pop(name, None)
        if method and method.path:
            for verb in method.verbs:
                self.routes.pop((verb, method.path), None)


def error_object(code: int, message: str, data: Any = None) -> dict[str, Any]:
    """A JSON-RPC error member."""
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return err


AuthCheck = Callable[[ApiMethod, Request], None]


class Dispatcher:
    """Runs JSON-RPC messages (single or batch) against a registry for one transport."""

    def __init__(self, registry: Registry, auth_check: AuthCheck | None = None) -> None:
        self.registry = registry
        self.auth_check = auth_check

    async def handle_text(self, text: str | bytes, request: Request) -> str | None:
        """Answer a JSON-RPC message; None when nothing is to be sent (only notifications)."""
        try:
            message = loads_request(text)
        except ValueError:
            return json.dumps(
                {"jsonrpc": "2.0", "error": error_object(PARSE_ERROR, "Parse error"), "id": None}
            )
        result = await self.handle_message(message, request)
        return None if result is None else json.dumps(result)

    async def handle_message(self, message: Any, request: Request) -> Any:
        """Answer a decoded message: a dict, a batch list, or None for notifications."""
        if isinstance(message, list):
            if not message:
                return self._error(None, INVALID_REQUEST, "Invalid Request")
            replies = [await self.handle_single(m, request) for m in message]
            answered = [r for r in replies if r is not None]
            return answered or None
        return await self.handle_single(message, request)

    @staticmethod
    def _error(req_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "error": error_object(code, message, data), "id": req_id}

    async def handle_single(self, message: Any, request: Request) -> dict[str, Any] | None:
        """Answer one request object."""
        if not isinstance(message, dict):
            return self._error(None, INVALID_REQUEST, "Invalid Request")
        req_id = message.get("id")
        is_notification = "id" not in message
        method_name = message.get("method")
        if message.get("jsonrpc") != "2.0" or not isinstance(method_name, str):
            return self._error(req_id, INVALID_REQUEST, "Invalid Request")
        params = message.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return None if is_notification else self._error(
                req_id, INVALID_PARAMS, "Invalid params: expected an object"
            )
        try:
            result = await self.call(method_name, params, request)
        except ApiError as exc:
            if is_notification:
                return None
            return self._error(req_id, exc.rpc_code, exc.message, exc.data)
        except RpcError as exc:
            return None if is_notification else self._error(req_id, exc.code, exc.message)
        except Exception:
            log.exception("API method %s failed", method_name)
            return None if is_notification else self._error(req_id, 500, "Internal Server Error")
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "result": result, "id": req_id}

    async def call(self, name: str, params: dict[str, Any], request: Request) -> Any:
        """Look up, authorize, validate and run a method."""
        method = self.registry.methods.get(name)
        if method is None:
            raise RpcError(METHOD_NOT_FOUND, "Method not found")
        if request.transport not in method.transports:
            transport = request.transport.name or "unknown"
            raise RpcError(METHOD_NOT_FOUND, f"Method not found for transport {transport}")
        if self.auth_check is not None:
            self.auth_check(method, request)
        request.raw_args = params
        return await method.call(params, request)
