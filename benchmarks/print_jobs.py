"""Benchmark the job layer's cost: a host print vs. streaming the same lines into the link.

Run: .venv/bin/python benchmarks/print_jobs.py [--file sphere_fine.gcode] [--rounds 3]

Both runs use one moonlite host with the built-in (in-process) virtual printer at time_scale 0
and no link pacing, so the figures are CPU-bound: the virtual printer's own work is in both.
"raw stream" feeds the file's command lines (pre-read, comments stripped) to
`link.start_stream`; "host print" is `printer.print_file` (chunked file reading in a worker
thread, per-line progress/filament/Z tracking, events). The difference is the job layer.
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this file's folder comes first on sys.path and serial.py there shadows pyserial
BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from moonlite.testing import gcode_command_lines, running_host, wait_until  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "gcode"
CONFIG = "[printer]\n\n[virtual_printer]\ntime_scale: 0\n"


async def wait_ready(printer: Any) -> None:
    """Wait until the link is operational (polling its state on each state change)."""
    changed = asyncio.Event()
    printer.link.listeners.state.append(lambda _o, _n: changed.set())
    await wait_until(
        lambda: printer.link.is_operational and printer.get_state_id() == "OPERATIONAL",
        changed, 10)


async def run(file: Path, rounds: int) -> None:
    """Print `file` `rounds` times each way; print lines/s and CPU per 10k lines."""
    lines = gcode_command_lines(file)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        (data / "gcodes").mkdir()
        shutil.copy(file, data / "gcodes" / file.name)
        async with running_host(data, CONFIG) as running:
            printer: Any = running.host.get_component("printer")
            await wait_ready(printer)
            done = asyncio.Event()
            running.host.events.subscribe("PrintDone", lambda _e, _p: done.set())
            results: dict[str, list[tuple[float, float]]] = {"raw stream": [], "host print": []}
            for _ in range(rounds):
                wall, cpu = time.perf_counter(), time.process_time()
                job = printer.link.start_stream(iter(lines))
                await job.done
                results["raw stream"].append((time.perf_counter() - wall,
                                              time.process_time() - cpu))
                await wait_ready(printer)
                done.clear()
                wall, cpu = time.perf_counter(), time.process_time()
                await printer.print_file(file.name)
                await asyncio.wait_for(done.wait(), 600)
                results["host print"].append((time.perf_counter() - wall,
                                              time.process_time() - cpu))
                await wait_ready(printer)
    print(f"{file.name}: {len(lines)} command lines, {rounds} round(s), median figures")
    for name, samples in results.items():
        wall = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        print(f"  {name:11s} {len(lines) / wall:9.0f} lines/s"
              f"  {cpu / len(lines) * 10_000:6.3f} CPU s per 10k lines (host + virtual printer)")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="sphere_fine.gcode")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(SHARED / args.file, args.rounds))


if __name__ == "__main__":
    main()
