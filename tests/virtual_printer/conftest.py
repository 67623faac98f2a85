"""Fixtures: a virtual printer served on a real pty, and a serial host connected to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from vp_host import SerialHost

from moonlite.virtual_printer import PtyServer, VirtualPrinter, VirtualPrinterOptions

Factory = Callable[..., Awaitable[tuple[PtyServer, SerialHost]]]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Factory]:
    """`await served(**options)` -> (server, host): a pty printer and an open serial host."""
    servers: list[PtyServer] = []
    hosts: list[SerialHost] = []

    async def make(**options: Any) -> tuple[PtyServer, SerialHost]:
        link = options.pop("link_path", None)
        printer = VirtualPrinter(VirtualPrinterOptions(**options))
        server = PtyServer(printer, link)
        servers.append(server)
        path = await server.start()
        host = await SerialHost.open(path)
        hosts.append(host)
        return server, host

    yield make
    for host in hosts:
        await host.close()
    for server in servers:
        await server.close()
