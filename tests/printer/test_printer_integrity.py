"""Integrity: a whole real file through line noise and lost oks arrives exactly once, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from moonlite.components.printer.link_config import LinkConfig
from moonlite.components.printer.protocol import MarlinProtocol
from moonlite.components.printer.state import PrinterState
from printer_rig import FAST, PROBES, RigFactory, without_fragments

from moonlite.testing import gcode_command_lines
from moonlite.transport.factory import open_transport
from moonlite.virtual_printer.link import PrinterLink
from moonlite.virtual_printer.options import VirtualPrinterOptions
from moonlite.virtual_printer.printer import VirtualPrinter


async def test_sphere_fine_with_corruption_and_lost_oks(
    local_rig: RigFactory, gcode_dir: Path
) -> None:
    path = gcode_dir / "sphere_fine.gcode"
    expected = gcode_command_lines(path)
    assert len(expected) > 50_000
    rig = await local_rig(
        {"timeout_communication": 0.3, "timeout_communication_busy": 0.3},
        corrupt_rate=0.02,
        drop_ok_rate=0.01,
        seed=11,
    )
    start = len(rig.printer.executed)
    with path.open(encoding="utf-8") as source:  # streamed from disk, line by line
        job = rig.link.start_stream(source)
        assert await asyncio.wait_for(job.done, 240) == "done"
    stats = rig.printer.stats
    assert stats["corrupted"] > 0.015 * len(expected)
    assert stats["dropped_oks"] > 0.007 * len(expected)
    executed, fragments = without_fragments(rig.printer.executed[start:])
    assert fragments <= stats["line_errors"]
    # timeout probes may appear between job lines; nothing else may
    job_lines = [c for c in executed if c not in PROBES]
    assert len(job_lines) == len(expected)
    assert job_lines == expected
    assert job.sent == len(expected)
    assert rig.link.state is PrinterState.OPERATIONAL


async def test_strict_rx_accounting_never_overflows_the_receive_buffer(
    local_rig: RigFactory, gcode_dir: Path
) -> None:
    # a board without flow control: bytes beyond its 128-byte RX buffer are lost
    rig = await local_rig(
        {"optimistic_rx": False},
        drop_rx_overflow=True,
        rx_buffer_bytes=128,
        baudrate=1_000_000,
        latency=0.0005,
    )
    expected = gcode_command_lines(gcode_dir / "sphere_fine.gcode", 600)
    _job, executed = await rig.stream_to_end(expected)
    assert rig.printer.stats["rx_overflow_bytes"] == 0
    assert rig.printer.stats["line_errors"] == 0
    assert executed == expected
    assert rig.link._flow.max_window > 1  # it did pipeline


async def test_async_source_is_streamed_in_order(local_rig: RigFactory, gcode_dir: Path) -> None:
    expected = gcode_command_lines(gcode_dir / "torus_marlin.gcode", 2000)
    rig = await local_rig()

    async def source() -> AsyncIterator[str]:
        for index, line in enumerate(expected):
            if index % 500 == 0:
                await asyncio.sleep(0)  # a real async reader yields now and then
            yield f"{line} ; comment\n"
            yield "\n"

    job, executed = await rig.stream_to_end(source())
    assert executed == expected
    assert job.sent == job.acked == len(expected)


async def test_stream_over_tcp_to_a_virtual_printer(gcode_dir: Path) -> None:
    """ser2net-style: the printer's serial stream on a TCP socket (socket://host:port)."""
    printer = VirtualPrinter(VirtualPrinterOptions())
    links: list[PrinterLink] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = PrinterLink(printer, writer.write, writer.close)
        links.append(link)
        link.start()
        try:
            while data := await reader.read(4096):
                link.from_host(data)
        finally:
            await link.stop()
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proto = MarlinProtocol(LinkConfig(**FAST))
    try:
        await asyncio.wait_for(proto.connect(open_transport(f"socket://127.0.0.1:{port}")), 10)
        assert proto.firmware.name.startswith("Marlin")
        expected = gcode_command_lines(gcode_dir / "cone_marlin2_thumbs.gcode", 1000)
        start = len(printer.executed)
        job = proto.start_stream(expected)
        assert await asyncio.wait_for(job.done, 60) == "done"
        assert printer.executed[start:] == expected
    finally:
        await proto.disconnect()
        server.close()
        await server.wait_closed()
        await printer.close()
