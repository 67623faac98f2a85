"""Benchmark the G-code time estimator: MB/s per shared file and on a 50 MB file, plus accuracy.

Run: .venv/bin/python benchmarks/analysis.py [--size-mb 50]
Prints, for every file in shared/gcode, the estimate against the slicer's own "estimated
printing time (normal mode)", the error in percent, seconds and MB/s on one core; then the
same for a file of about --size-mb MB made by concatenating them in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

from moonlite.components.analysis.estimator import estimate_file

SHARED = Path(__file__).resolve().parents[2] / "shared" / "gcode"
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def slicer_estimate(path: Path) -> float | None:
    """PrusaSlicer's normal-mode estimate in seconds, from the file's comment."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("; estimated printing time (normal mode) = "):
                text = line.partition(" = ")[2]
                return float(sum(int(v) * _UNITS[u] for v, u in re.findall(r"(\d+)([dhms])", text)))
    return None


def timed(path: Path) -> tuple[float, float]:
    """(estimated seconds, wall seconds) for one file; best of three for small files."""
    best = float("inf")
    total = 0.0
    runs = 3 if path.stat().st_size < 20_000_000 else 1
    for _ in range(runs):
        started = time.perf_counter()
        total = estimate_file(path).result["total_time"]
        best = min(best, time.perf_counter() - started)
    return total, best


def main() -> None:
    """Print the accuracy table and the throughput figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=50.0)
    parser.add_argument("--gcode-dir", type=Path, default=SHARED)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    files = sorted(args.gcode_dir.glob("*.gcode"))
    header = (
        f"{'file':<28} {'MB':>6} {'ours':>9} {'slicer':>8} {'error':>7} {'secs':>7} {'MB/s':>7}"
    )
    print(header)
    print("-" * len(header))
    for path in files:
        size = path.stat().st_size / 1e6
        ours, secs = timed(path)
        ref = slicer_estimate(path)
        err = f"{(ours - ref) / ref * 100:+6.2f}%" if ref else "   n/a"
        ref_s = f"{ref:8.0f}" if ref else "     n/a"
        rate = size / secs
        print(f"{path.name:<28} {size:6.2f} {ours:9.1f} {ref_s} {err} {secs:7.3f} {rate:7.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "concatenated.gcode"
        with open(big, "wb") as out:
            while out.tell() < args.size_mb * 1e6:
                for path in files:
                    out.write(path.read_bytes())
        size = big.stat().st_size / 1e6
        ours, secs = timed(big)
        print(f"{'concatenated':<28} {size:6.2f} {ours:9.1f} {'':>8} {'':>7} {secs:7.3f} "
              f"{size / secs:7.2f}")


if __name__ == "__main__":
    main()
