"""TCP transport for serial-over-network bridges (ser2net, ESP3D): `socket://host:port`."""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any

from moonlite.transport.lines import LineProtocol, LineTransport

SCHEME = "socket://"


def parse_socket_url(url: str) -> tuple[str, int]:
    """Split `socket://host:port` into (host, port); raise `ValueError` when malformed."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "socket" or not parsed.hostname or parsed.port is None:
        raise ValueError(f"not a socket://host:port URL: {url!r}")
    return parsed.hostname, parsed.port


class TcpTransport(LineTransport):
    """A TCP connection carrying the printer's serial stream."""

    #: seconds allowed for the TCP connect
    connect_timeout = 10.0

    def __init__(self, url: str) -> None:
        super().__init__()
        self.host, self.port = parse_socket_url(url)
        self.name = url

    async def _connect(self) -> tuple[asyncio.BaseTransport, Any]:
        """Connect (asyncio sets TCP_NODELAY, so short lines are not delayed by Nagle)."""
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(
            loop.create_connection(LineProtocol, self.host, self.port), self.connect_timeout
        )
