"""aiohttp middlewares, one per file: errors, CORS, authentication."""

from moonlite.middleware.authentication import authentication_middleware, public
from moonlite.middleware.cors import cors_middleware
from moonlite.middleware.errors import error_middleware, error_response

__all__ = [
    "authentication_middleware", "cors_middleware", "error_middleware", "error_response",
    "public",
]
