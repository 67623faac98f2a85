"""The in-process VirtualTransport: open, lines both ways, close, firmware-side disconnect."""

from __future__ import annotations

import asyncio

import pytest

from moonlite.transport.base import TransportClosed
from moonlite.transport.virtual import VirtualTransport
from moonlite.virtual_printer import VirtualPrinter, VirtualPrinterOptions, frame


async def _until(transport: VirtualTransport, prefix: bytes) -> list[bytes]:
    lines = []
    async with asyncio.timeout(5):
        while True:
            line = await transport.readline()
            lines.append(line)
            if line.startswith(prefix):
                return lines


async def test_open_exchange_close_reopen() -> None:
    transport = VirtualTransport(options=VirtualPrinterOptions())
    assert not transport.is_open
    await transport.open()
    assert (await _until(transport, b"start")) == [b"start"]
    await transport.write(frame(0, "M110 N0"))
    await _until(transport, b"ok N0")
    await transport.write(frame(1, "M114"))
    lines = await _until(transport, b"ok N1")
    assert lines[-2:] == [b"X:0.00 Y:0.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0", b"ok N1 P15 B3"]
    reader = asyncio.create_task(transport.readline())
    await transport.close()
    with pytest.raises(TransportClosed):
        await reader
    with pytest.raises(TransportClosed):
        await transport.write(b"M105\n")
    await transport.open()  # reconnecting resets the board, as DTR does
    assert (await _until(transport, b"start"))[-1] == b"start"
    await transport.write(frame(2, "M105"))  # line numbers start over: N1 is expected
    assert (await _until(transport, b"Resend"))[-1] == b"Resend: 1"
    await transport.close()
    await transport.printer.close()


async def test_firmware_disconnect_closes_the_transport() -> None:
    printer = VirtualPrinter(VirtualPrinterOptions(disconnect_at_line=2))
    transport = VirtualTransport(printer)
    await transport.open()
    await _until(transport, b"start")
    # M110 re-sets the line number when it runs (as Marlin does): wait for its ok first
    await transport.write(frame(0, "M110 N0"))
    await _until(transport, b"ok N0")
    await transport.write(frame(1, "G90"))
    await _until(transport, b"ok N1")
    await transport.write(frame(2, "G91"))
    with pytest.raises(TransportClosed):
        await _until(transport, b"never")
    assert not transport.is_open
    await transport.open()
    assert (await _until(transport, b"start"))[-1] == b"start"
    assert printer.executed == ["M110 N0", "G90"]
    await transport.close()
    await printer.close()


async def test_paced_transport_throughput() -> None:
    printer = VirtualPrinter(VirtualPrinterOptions(baudrate=115200, latency=0.001))
    transport = VirtualTransport(printer)
    await transport.open()
    await _until(transport, b"start")
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(50):
        await transport.write(frame(n, "G1 X1 Y1") if n else frame(0, "M110 N0"))
        await _until(transport, b"ok N")
    elapsed = loop.time() - started
    # ping-pong: every line costs its bytes both ways plus two latencies
    assert elapsed >= 50 * (2 * 0.001 + (17 + 13) * 10 / 115200) * 0.9
    await transport.close()
    await printer.close()


async def test_owned_printer_stops_with_the_transport() -> None:
    transport = VirtualTransport(options=VirtualPrinterOptions())
    await transport.open()
    await _until(transport, b"start")
    tasks = set(transport.printer._tasks)
    assert tasks
    await transport.close()
    assert all(task.done() for task in tasks)
    await transport.open()  # boots again
    assert (await _until(transport, b"start"))[-1] == b"start"
    await transport.close()
