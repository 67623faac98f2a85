"""How fast the virtual printer takes lines, to show it is never the bottleneck of a benchmark.

Run: .venv/bin/python benchmarks/virtual_printer.py [--file torus_marlin.gcode] [--lines 2000]

Streams a real G-code file (comments stripped, every line numbered) into a virtual printer
behind a pty with pyserial-asyncio-fast, from a minimal host in this process: one line in
flight ("ping-pong") and credit-based on ADVANCED_OK's B (as many lines as the firmware has free
slots, within its RX buffer). Prints lines per second, the wire limit (baud/10 bytes per
second over the mean framed line length) and the fraction of it reached, and checks that the
printer executed exactly the file's lines. The last rows use large buffers to show that the
link emulation itself reaches the wire limit.
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this file's folder comes first on sys.path and its name shadows pyserial
BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import serial_asyncio_fast  # noqa: E402

from moonlite.testing import gcode_command_lines  # noqa: E402
from moonlite.virtual_printer import (  # noqa: E402
    PtyServer,
    VirtualPrinter,
    VirtualPrinterOptions,
    frame,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "gcode"


async def _read_ok(reader: asyncio.StreamReader) -> dict[str, int]:
    while True:
        line = (await reader.readline()).decode()
        if line.startswith("ok"):
            return {w[0]: int(w[1:]) for w in line.split()[1:] if w[1:].isdigit()}


async def run(commands: list[str], pipelined: bool, rx_bytes: int, **options: Any) -> float:
    """Stream `commands`; returns lines per second."""
    printer = VirtualPrinter(VirtualPrinterOptions(**options))
    server = PtyServer(printer)
    path = await server.start()
    reader, writer = await serial_asyncio_fast.open_serial_connection(url=path, baudrate=115200)
    try:
        while not (await reader.readline()).startswith(b"start"):
            pass
        writer.write(frame(0, "M110 N0"))
        await _read_ok(reader)
        framed = [frame(i + 1, c) for i, c in enumerate(commands)]
        started = time.perf_counter()
        inflight: list[int] = []
        free, index = 1, 0
        while index < len(framed) or inflight:
            while index < len(framed) and len(inflight) < (free if pipelined else 1):
                if inflight and sum(inflight) + len(framed[index]) > rx_bytes:
                    break
                writer.write(framed[index])
                inflight.append(len(framed[index]))
                index += 1
            fields = await _read_ok(reader)
            inflight.pop(0)
            free = max(1, fields.get("B", 1))
        rate = len(commands) / (time.perf_counter() - started)
        assert printer.executed[1:] == commands, "executed log differs from the file"
        return rate
    finally:
        writer.close()
        await server.close()


async def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="torus_marlin.gcode")
    parser.add_argument("--lines", type=int, default=2000, help="first N lines of the file")
    args = parser.parse_args()
    commands = gcode_command_lines(SHARED / args.file, args.lines)
    mean = sum(len(frame(i + 1, c)) for i, c in enumerate(commands)) / len(commands)
    print(f"{args.file}: {len(commands)} lines, mean framed length {mean:.1f} bytes")
    print(f"{'baud':>7} {'buffers':>12} {'mode':>10} {'lines/s':>8} {'limit':>6} {'share':>6}")
    for baud in (115200, 250000):
        limit = baud / 10 / mean
        big = {"buffer_size": 16, "rx_buffer_bytes": 1024}
        for label, extra, rx in (("4 / 128 B", {}, 128), ("16 / 1 KiB", big, 1024)):
            for pipelined in (False, True):
                rate = await run(commands, pipelined, rx, baudrate=baud, latency=0.001, **extra)
                mode = "credit" if pipelined else "ping-pong"
                print(f"{baud:>7} {label:>12} {mode:>10} {rate:>8.0f} {limit:>6.0f} "
                      f"{rate / limit:>6.0%}")
    rate = await run(commands, True, 128)
    print(f"unpaced (no baud, no latency), credit: {rate:.0f} lines/s")


if __name__ == "__main__":
    asyncio.run(main())
