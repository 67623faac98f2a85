"""CORS: answer preflights and tag responses for origins listed in `cors_domains`."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from moonlite.appkeys import HOST

ALLOW_HEADERS = "Origin, Accept, Content-Type, X-Requested-With, X-CRSF-Token, Authorization, " \
    "X-Access-Token, X-Api-Key"
ALLOW_METHODS = "GET, HEAD, POST, PUT, DELETE, OPTIONS"
#: methods a foreign page could send without a preflight and that may change something
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Preflight `OPTIONS` -> 204 for allowed origins; CORS headers on their responses.

    A browser sends a form POST (or a DELETE via fetch in no-cors mode) to another origin
    without a preflight, with the victim's address: from a trusted network it would pass
    authentication. Unsafe methods from an origin that is neither this host nor listed in
    `cors_domains` are refused (403); clients that are not browsers send no Origin.
    """
    origin = request.headers.get("Origin")
    auth = request.app[HOST].auth
    allowed = bool(origin) and auth.cors_match(origin or "")
    if origin and request.method in UNSAFE_METHODS and not auth.origin_allowed(request):
        raise web.HTTPForbidden(reason="CORS origin not allowed")
    if request.method == "OPTIONS" and origin:
        if not allowed:
            raise web.HTTPForbidden(reason="CORS origin not allowed")
        response: web.StreamResponse = web.Response(status=204)
    else:
        response = await handler(request)
    if allowed and origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
    return response
