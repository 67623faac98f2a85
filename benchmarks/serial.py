"""Benchmark the printer link: lines/s and host CPU per 10k lines into a virtual printer on a pty.

Run: .venv/bin/python benchmarks/serial.py [--lines 4000] [--file sphere_fine.gcode]
                                           [--no-octoprint]

The virtual Marlin runs in its own process behind a pty with emulated baud rate (115200 and
250000), 1 ms link latency each way, a 4-slot command buffer and instantaneous moves, so the
wire is the only limit. The wire limit is baud/10 bytes per second over the mean framed line
length (`N<n> <cmd>*<cs>\\n`); each run prints its fraction of it. Host CPU is this process's
CPU time while streaming (the printer's CPU is in the other process). Then the same lines are
printed by OctoPrint 1.11 (its own venv under bench-venvs/octoprint, created if missing) to
the same kind of virtual printer (see benchmarks/octoprint_peer.py), and each pair is
compared: rate ratio and CPU-per-line ratio (OctoPrint's figure is its whole process).
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this file's folder comes first on sys.path and its name shadows pyserial
BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from moonlite.components.printer.framing import frame  # noqa: E402
from moonlite.components.printer.link_config import LinkConfig  # noqa: E402
from moonlite.components.printer.protocol import MarlinProtocol  # noqa: E402

from moonlite.testing import gcode_command_lines  # noqa: E402
from moonlite.transport.serial import SerialTransport  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "gcode"

#: runs the virtual printer behind a pty in a child process; prints the pty path, exits on EOF
PRINTER_SCRIPT = """
import asyncio, json, sys
from moonlite.virtual_printer.options import VirtualPrinterOptions
from moonlite.virtual_printer.printer import VirtualPrinter
from moonlite.virtual_printer.pty import PtyServer

async def main():
    server = PtyServer(VirtualPrinter(VirtualPrinterOptions(**json.loads(sys.argv[1]))))
    print(await server.start(), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await server.close()

asyncio.run(main())
"""


@dataclass
class Result:
    """One streaming run."""

    label: str
    lines: int
    seconds: float
    cpu: float
    limit: float

    @property
    def rate(self) -> float:
        """Lines per second."""
        return self.lines / self.seconds

    def row(self) -> str:
        """A table row."""
        return (
            f"{self.label:<34} {self.rate:9.1f} {self.limit:9.1f} {self.rate / self.limit:7.1%}"
            f" {self.cpu / self.lines * 10_000:10.3f}"
        )


def wire_limit(lines: list[str], first_number: int, baudrate: int) -> float:
    """Lines per second the wire carries: (baud/10) / mean framed line length."""
    mean = statistics.fmean(len(frame(first_number + i, c)) for i, c in enumerate(lines))
    return baudrate / 10 / mean


@contextmanager
def virtual_printer(**options: object) -> Iterator[str]:
    """Run a virtual printer on a pty in a child process; yield the pty path."""
    child = subprocess.Popen(
        [sys.executable, "-c", PRINTER_SCRIPT, json.dumps(options)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)


def printer_options(baudrate: int, advanced_ok: bool) -> dict[str, object]:
    """The benchmark printer: paced wire, 1 ms latency, 4 slots, instant moves."""
    return {
        "baudrate": baudrate,
        "latency": 0.001,
        "buffer_size": 4,
        "advanced_ok": advanced_ok,
        "time_scale": 0.0,
    }


async def run_moonlite(lines: list[str], baudrate: int, advanced_ok: bool) -> Result:
    """Stream `lines` with moonlite's link; time and CPU from the first line to the last ok."""
    with virtual_printer(**printer_options(baudrate, advanced_ok)) as path:
        link = MarlinProtocol(LinkConfig(temperature_autoreport=0, position_autoreport=0))
        await link.connect(SerialTransport(path, baudrate))
        first_number = link._flow.next_line
        cpu0, wall0 = time.process_time(), time.perf_counter()
        job = link.start_stream(lines)
        await job.done
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        await link.disconnect()
    label = f"moonlite {baudrate} ADVANCED_OK {'on' if advanced_ok else 'off'}"
    return Result(label, len(lines), wall, cpu, wire_limit(lines, first_number, baudrate))


def main() -> None:
    """Parse arguments, run every configuration, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=4000, help="command lines per run")
    parser.add_argument("--file", default="sphere_fine.gcode", help="file in shared/gcode")
    parser.add_argument("--no-octoprint", action="store_true", help="skip OctoPrint 1.11")
    args = parser.parse_args()
    lines = gcode_command_lines(SHARED / args.file, args.lines)
    configs = [(baud, adv) for baud in (115200, 250000) for adv in (True, False)]
    results: dict[tuple[int, bool], list[Result]] = {c: [] for c in configs}
    for baudrate, advanced_ok in configs:
        result = asyncio.run(run_moonlite(lines, baudrate, advanced_ok))
        results[(baudrate, advanced_ok)].append(result)
        print(result.row(), flush=True)
    if not args.no_octoprint:
        sys.path.append(str(BENCH_DIR))
        from octoprint_peer import run_octoprint

        for baudrate, advanced_ok in configs:
            label = f"OctoPrint {baudrate} ADVANCED_OK {'on' if advanced_ok else 'off'}"
            with virtual_printer(**printer_options(baudrate, advanced_ok)) as path:
                seconds, cpu = run_octoprint(path, baudrate, lines)
            limit = wire_limit(lines, 1, baudrate)
            result = Result(label, len(lines), seconds, cpu, limit)
            results[(baudrate, advanced_ok)].append(result)
            print(result.row(), flush=True)
    print()
    print(f"file {args.file}, {len(lines)} command lines, 1 ms latency, 4-slot buffer")
    print(f"{'run':<34} {'lines/s':>9} {'limit':>9} {'of wire':>7} {'CPU s/10k':>10}")
    for config in configs:
        for result in results[config]:
            print(result.row())
        if len(results[config]) == 2:
            ours, theirs = results[config]
            print(
                f"{'  moonlite / OctoPrint':<34} {ours.rate / theirs.rate:8.2f}x"
                f" {'':>9} {'':>7} {ours.cpu / ours.lines / (theirs.cpu / theirs.lines):9.2f}x"
            )


if __name__ == "__main__":
    main()
