"""The `moonlite` command: serve (default), check-config, analyze, virtual-printer."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from moonlite import __version__
from moonlite.config import Config, ConfigError

DEFAULT_DATA_DIR = "~/moonlite_data"


def _serve_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, help="config file (default: embedded "
                        "defaults, or <data-dir>/config/moonlite.conf if it exists)")
    parser.add_argument("-d", "--data-dir", type=Path,
                        default=Path(os.environ.get("MOONLITE_DATA_DIR", DEFAULT_DATA_DIR)),
                        help=f"data folder (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--host", help="address to listen on (overrides [server] host)")
    parser.add_argument("-p", "--port", type=int, help="port (overrides [server] port)")
    parser.add_argument("-n", "--no-log-file", action="store_true", help="log to stderr only")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="auto",
                        help="event loop: uvloop when installed (auto, the default) or the "
                        "standard asyncio loop")


def _wants(command: str, argv: list[str] | None) -> bool:
    # optional sub-commands are imported only when the command line names them (or asks for
    # help): `analyze` pulls in numpy, ~16 MB a serving process would carry for its whole life
    words = sys.argv[1:] if argv is None else argv
    return command in words or "-h" in words or "--help" in words


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of the sub-commands `argv` may use (all of them for `--help`)."""
    parser = argparse.ArgumentParser(prog="moonlite", description=__doc__)
    parser.add_argument("--version", action="version", version=f"moonlite {__version__}")
    _serve_parser(parser)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the server (the default)")
    _serve_parser(serve)
    check = sub.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("file", type=Path)
    # optional sub-commands live with the code they run: `add_<x>_parser(sub)` adds the parser,
    # `run_<x>(args) -> int` runs it
    if _wants("analyze", argv):
        with contextlib.suppress(ImportError):
            from moonlite.components.analysis.cli import add_analyze_parser, run_analyze

            add_analyze_parser(sub)
            sub.choices["analyze"].set_defaults(run=run_analyze)
    if not _wants("virtual-printer", argv):
        return parser
    with contextlib.suppress(ImportError):
        from moonlite.virtual_printer.cli import (
            add_virtual_printer_parser,
            run_virtual_printer,
        )

        add_virtual_printer_parser(sub)
        sub.choices["virtual-printer"].set_defaults(run=run_virtual_printer)
    return parser


def check_config(path: Path) -> int:
    """Load a config file and validate every section; print what is wrong."""
    from moonlite.server import Host

    try:
        config = Config.load(path)
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            host = Host(config, Path(tmp))
            host.load_components()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if host.failed_components:
        for warning in host.warnings:
            print(f"error: {warning}", file=sys.stderr)
        return 1
    print(f"{path}: OK ({len(config.sections)} sections)")
    return 0


async def run_server(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; a `server.restart` builds a fresh host."""
    from moonlite.logs import setup_logging
    from moonlite.server import Host, serve
    from moonlite.systemd import sd_notify, watchdog

    data_dir: Path = args.data_dir.expanduser()
    config_path: Path | None = args.config
    if config_path is None and (data_dir / "config" / "moonlite.conf").is_file():
        config_path = data_dir / "config" / "moonlite.conf"
    log_handler = setup_logging(None if args.no_log_file else data_dir / "logs", args.verbose)
    loop = asyncio.get_running_loop()
    while True:
        try:
            config = Config.load(config_path) if config_path else None
            host = Host(config, data_dir, port=args.port, host=args.host)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        host.log_handler = log_handler
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, host.stopped.set)
        async with watchdog():
            await serve(host, ready=lambda _port: sd_notify("READY=1"))
        if not host.restart_requested:
            sd_notify("STOPPING=1")
            return 0
        sd_notify("RELOADING=1")


def _run(main_coro: Coroutine[Any, Any, int], loop: str) -> int:
    """Run the server on uvloop (about twice the websocket round trips of the standard loop
    for one client, measured by benchmarks/api.py) unless the standard loop is asked for."""
    if loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if loop == "uvloop":
                raise
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(main_coro)
    return asyncio.run(main_coro)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `moonlite` console script."""
    args = build_parser(argv).parse_args(argv)
    command = args.command or "serve"
    if command == "check-config":
        return check_config(args.file)
    if command == "serve":
        try:
            return _run(run_server(args), args.loop)
        except KeyboardInterrupt:
            return 0
    runner = getattr(args, "run", None)
    if callable(runner):
        return int(runner(args))
    build_parser(["--help"]).print_help()
    return 2
