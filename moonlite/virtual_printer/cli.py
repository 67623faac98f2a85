"""`moonlite virtual-printer`: serve a virtual Marlin printer behind a pty until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from moonlite.virtual_printer.options import VirtualPrinterOptions
from moonlite.virtual_printer.pty import serve_pty

# flag -> option name, for the knobs people reach for most; `-o name=value` sets any other
_FLAGS: dict[str, str] = {
    "--tools": "tools",
    "--sd-dir": "sd_dir",
    "--baudrate": "baudrate",
    "--latency": "latency",
    "--time-scale": "time_scale",
    "--buffer-size": "buffer_size",
    "--corrupt-rate": "corrupt_rate",
    "--drop-ok-rate": "drop_ok_rate",
    "--seed": "seed",
}


def add_virtual_printer_parser(sub: Any) -> None:
    """Add the `virtual-printer` sub-command to an argparse sub-parser set."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "virtual-printer",
        help="serve a simulated Marlin printer on a pty (prints the device path)",
        description="Serve a simulated Marlin 2.x printer behind a pseudo-terminal. Any serial "
        "host (moonlite, OctoPrint, Pronterface) can open the printed path at any baud rate.",
    )
    for flag, name in _FLAGS.items():
        parser.add_argument(flag, dest=name, default=None, help=f"option {name}")
    parser.add_argument("--chamber", action="store_true", default=None, help="add a chamber")
    parser.add_argument("--no-bed", dest="bed", action="store_false", default=None)
    parser.add_argument(
        "--no-advanced-ok", dest="advanced_ok", action="store_false", default=None,
        help="answer plain `ok` instead of `ok N.. P.. B..`",
    )
    parser.add_argument(
        "--link", type=Path, default=None,
        help="also keep this symlink pointing at the pty (a stable device name)",
    )
    parser.add_argument(
        "-o", "--option", action="append", default=[], metavar="NAME=VALUE",
        help="any VirtualPrinterOptions field (repeatable), e.g. -o kill_at_line=500",
    )


def options_from_args(args: argparse.Namespace) -> VirtualPrinterOptions:
    """Build the options from parsed arguments (raises ValueError with a readable message)."""
    values: dict[str, Any] = {}
    for name in [*_FLAGS.values(), "chamber", "bed", "advanced_ok"]:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    for item in args.option:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"-o expects NAME=VALUE, got {item!r}")
        values[name.strip().replace("-", "_")] = value.strip()
    try:
        return VirtualPrinterOptions(**values)
    except ValidationError as error:
        raise ValueError(str(error)) from error


def run_virtual_printer(args: argparse.Namespace) -> int:
    """Run the sub-command; returns the exit status."""
    try:
        options = options_from_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_pty(options, args.link))
    return 0
