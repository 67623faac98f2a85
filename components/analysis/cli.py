"""`moonlite analyze FILE [--config CFG] [--json]`: estimate a G-code file's print time."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from .estimator import estimate_file
from .jobs import NotGcodeError, check_text_file
from .limits import ConfigError, load_config
from .postprocess import format_dhms, process_file


class ProgressBar:
    """A one-line progress bar redrawn on a terminal (at most ~20 times a second)."""

    def __init__(self, stream: TextIO, width: int = 40) -> None:
        self.stream = stream
        self.width = width
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.05:
            return
        self._last = now
        frac = done / total if total else 1.0
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {frac * 100:5.1f}% {done / 1e6:8.1f} MB")
        self.stream.flush()

    def close(self) -> None:
        """Clear the bar's line."""
        self.stream.write("\r" + " " * (self.width + 26) + "\r")
        self.stream.flush()


def add_analyze_parser(subparsers: Any) -> None:
    """Add the `analyze` sub-command to the `moonlite` command."""
    parser = subparsers.add_parser(
        "analyze",
        help="estimate a G-code file's print time",
        description="Estimate a G-code file's print time with moonlite's planner model.",
    )
    parser.add_argument("file", type=Path, help="G-code file")
    parser.add_argument("--config", type=Path, help="estimator config (JSON)")
    parser.add_argument("--json", action="store_true", help="print the full estimate as JSON")
    parser.add_argument(
        "--process",
        action="store_true",
        help="also rewrite the file's M73 lines and time comments to the estimate",
    )
    parser.add_argument("--force", action="store_true", help="with --process: even if done before")
    parser.set_defaults(run=run_analyze)


def _summary(result: dict[str, Any], seconds: float, size: int) -> str:
    lines = [
        f"estimated time: {format_dhms(result['total_time'])} ({result['total_time']:.1f} s)",
        f"moves: {result['num_moves']}, distance: {result['total_distance'] / 1000:.1f} m, "
        f"filament: {result['total_extrude_distance'] / 1000:.2f} m",
        f"max speed: {result['max_speed']:.1f} mm/s, max flow: {result['max_flow']:.2f} mm³/s",
        f"layers: {len(result['layer_times'])}, Z moves: {result['total_z_time']:.1f} s",
    ]
    for kind, value in sorted(result["kind_times"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {kind:<28} {format_dhms(value):>12}")
    rate = size / seconds / 1e6 if seconds > 0 else float("inf")
    lines.append(f"analysed {size / 1e6:.1f} MB in {seconds:.2f} s ({rate:.1f} MB/s)")
    return "\n".join(lines)


def run_analyze(args: argparse.Namespace) -> int:
    """Run `moonlite analyze`; returns the exit status."""
    path: Path = args.file
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    try:
        check_text_file(path)
        config = load_config(args.config) if args.config else None
    except (ConfigError, NotGcodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    started = time.perf_counter()
    try:
        if getattr(args, "process", False):
            outcome = process_file(path, config, force=args.force, progress=bar)
            if outcome.estimate is None:
                print(f"{path}: already processed (use --force)", file=sys.stderr)
                return 0
            estimate = outcome.estimate
        else:
            estimate = estimate_file(path, config, progress=bar)
    except OSError as exc:
        print(f"error: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - started
    try:
        if args.json:
            print(json.dumps(estimate.result, indent=2))
        else:
            print(_summary(estimate.result, elapsed, path.stat().st_size))
        sys.stdout.flush()
    except BrokenPipeError:  # `moonlite analyze FILE | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
