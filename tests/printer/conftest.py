"""Fixtures for the printer-link tests: a virtual Marlin behind a real pty or in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from moonlite.components.printer.link_config import LinkConfig
from moonlite.components.printer.protocol import MarlinProtocol
from printer_rig import FAST, Rig, RigFactory

from moonlite.transport.serial import SerialTransport
from moonlite.transport.virtual import VirtualTransport
from moonlite.virtual_printer.options import VirtualPrinterOptions
from moonlite.virtual_printer.printer import VirtualPrinter
from moonlite.virtual_printer.pty import PtyServer


@pytest.fixture
async def pty_rig(tmp_path: Path) -> AsyncIterator[RigFactory]:
    """`await pty_rig(printer_options..., link=LinkConfig kwargs)` -> a connected Rig over a pty."""
    rigs: list[Rig] = []

    async def make(link: dict[str, Any] | None = None, **options: Any) -> Rig:
        printer = VirtualPrinter(VirtualPrinterOptions(**options))
        server = PtyServer(printer, link_path=tmp_path / f"ttyVIRTUAL{len(rigs)}")
        path = await server.start()
        proto = MarlinProtocol(LinkConfig(**{**FAST, **(link or {})}))
        rig = Rig(proto, printer, server)
        rigs.append(rig)
        await asyncio.wait_for(proto.connect(SerialTransport(path, 250000)), 10)
        return rig

    yield make
    for rig in rigs:
        await rig.link.disconnect()
        await rig.server.close()


@pytest.fixture
async def local_rig() -> AsyncIterator[RigFactory]:
    """Like `pty_rig`, over the in-process link (no pty, no pacing unless asked for)."""
    rigs: list[Rig] = []

    async def make(link: dict[str, Any] | None = None, **options: Any) -> Rig:
        printer = VirtualPrinter(VirtualPrinterOptions(**options))
        proto = MarlinProtocol(LinkConfig(**{**FAST, **(link or {})}))
        rig = Rig(proto, printer, None)
        rigs.append(rig)
        await asyncio.wait_for(proto.connect(VirtualTransport(printer)), 10)
        return rig

    yield make
    for rig in rigs:
        await rig.link.disconnect()
        await rig.printer.close()
