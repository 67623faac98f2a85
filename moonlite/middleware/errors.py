"""Every HTTP error becomes Moonraker's JSON error body, with the message as reason phrase."""

from __future__ import annotations

import json
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from moonlite.rpc import ApiError

log = logging.getLogger(__name__)


def _reason(message: str) -> str:
    # a reason phrase is one line of latin-1 text
    line = message.splitlines()[0] if message else "Error"
    # control characters (a NUL from a hostile path) would make aiohttp drop the response
    line = "".join(c if c.isprintable() else "?" for c in line)
    return line.encode("latin-1", "replace").decode("latin-1")[:200] or "Error"


def error_response(status: int, message: str) -> web.Response:
    """`{"error": {"code", "message"}}` with `status`; the reason phrase is the message."""
    body = json.dumps({"error": {"code": status, "message": message}})
    return web.Response(status=status, reason=_reason(message), text=body,
                        content_type="application/json")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn ApiError and aiohttp's HTTP errors into JSON error responses."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        message = exc.reason if exc.text is None or exc.text.startswith(str(exc.status)) \
            else exc.text
        response = error_response(exc.status, message or exc.reason)
        for name in ("Allow", "Location", "WWW-Authenticate"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except Exception:
        # a bug in a handler: log it, answer the JSON error shape (no traceback to clients)
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "Internal Server Error")
