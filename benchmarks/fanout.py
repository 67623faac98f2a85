"""Status fan-out: does streaming a print slow down when 100 websocket clients subscribe?

    .venv/bin/python benchmarks/fanout.py [--clients 100] [--runs 5] [--time-scale 0]
                                          [--file cone_marlin2_thumbs.gcode] [--link virtual|pty]

Starts moonlite in its own process (built-in virtual printer with `time_scale` 0, so motion is
instantaneous and the link is the bottleneck: the most sensitive setting for host overhead),
then prints the same real PrusaSlicer file again and again, alternating between no extra
clients and N websocket clients that identify and subscribe to every printer object with all
fields, as Mainsail does. The clients run in this process (pinned to another CPU than the
server when there are two or more), so moonlite's CPU is its own. For each run it measures the
streaming rate (command lines of the file / seconds from `printer.print.start` to
`print_stats.state == "complete"`), moonlite's CPU seconds and CPU share during the print, and
the status notifications the clients received. Prints the medians and the rate drop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from moonlite.testing import RpcClient, gcode_command_lines  # noqa: E402

SHARED_GCODE = REPO.parent / "shared" / "gcode"
CONFIG = """\
[server]
host: 127.0.0.1
port: {port}
max_websocket_connections: {max_clients}

[authorization]
trusted_clients: 127.0.0.0/8

[printer]
port: {printer_port}
baudrate: 250000

[virtual_printer]
time_scale: {time_scale}

[file_manager]

[data_store]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Subscriber:
    """One Mainsail-like client: identified, subscribed to everything, counting updates."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client
        self.updates = 0
        self.task = asyncio.create_task(self._count())

    async def _count(self) -> None:
        while True:
            note = await self.client.notifications.get()
            if note["method"] == "notify_status_update":
                self.updates += 1


async def open_subscribers(url: str, count: int, session: aiohttp.ClientSession,
                           stack: contextlib.AsyncExitStack) -> list[Subscriber]:
    async def one(index: int) -> Subscriber:
        client = await stack.enter_async_context(RpcClient.connect(url, session))
        await client.call("server.connection.identify", {
            "client_name": f"bench-{index}", "version": "1", "type": "web", "url": "x"})
        names = (await client.call("printer.objects.list"))["objects"]
        await client.call("printer.objects.subscribe", {"objects": dict.fromkeys(names)})
        return Subscriber(client)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def print_once(control: RpcClient, filename: str, server: psutil.Process
                     ) -> tuple[float, float]:
    """Print `filename`; return (seconds, moonlite CPU seconds) from start to complete."""
    while not control.notifications.empty():
        control.notifications.get_nowait()
    cpu0 = sum(server.cpu_times()[:2])
    start = time.perf_counter()
    await control.call("printer.print.start", {"filename": filename})
    seen_printing = False
    while True:
        note = await control.next_notification("notify_status_update", timeout=600)
        state = note["params"][0].get("print_stats", {}).get("state")
        if state == "printing":
            seen_printing = True
        elif state == "complete" and seen_printing:
            break
        elif state in ("error", "cancelled"):
            raise RuntimeError(f"print ended: {state}")
    elapsed = time.perf_counter() - start
    return elapsed, sum(server.cpu_times()[:2]) - cpu0


def wait_path(path: Path) -> None:
    """Wait for the virtual printer's pty link to appear (a file: nothing to subscribe to)."""
    deadline = time.monotonic() + 30
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.05)


async def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            async with RpcClient.connect(url) as client:
                while (await client.call("printer.info"))["state"] != "ready":
                    await client.next_notification("notify_klippy_ready", 30)
                return
        except (aiohttp.ClientError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)  # the server is still starting: nothing to wait on yet


def run(args: argparse.Namespace) -> None:
    """Start the server (and the printer on a pty), measure, stop, report."""
    source = SHARED_GCODE / args.file
    lines = len(gcode_command_lines(source))
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        (data / "gcodes").mkdir()
        shutil.copy(source, data / "gcodes" / args.file)
        conf = data / "moonlite.conf"
        peer: subprocess.Popen[bytes] | None = None
        printer_port = "virtual"
        if args.link == "pty":
            # the simulated board in its own process behind a pty: moonlite's CPU is the host's
            link = data / "printer-pty"
            peer = subprocess.Popen([sys.executable, "-m", "moonlite", "virtual-printer",
                                     "--time-scale", str(args.time_scale), "--link",
                                     str(link)], cwd=REPO, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            wait_path(link)
            printer_port = str(link)
        conf.write_text(CONFIG.format(port=port, time_scale=args.time_scale,
                                      max_clients=args.clients + 10,
                                      printer_port=printer_port))
        proc = subprocess.Popen([sys.executable, "-m", "moonlite", "-c", str(conf), "-d",
                                 str(data), "-n"], cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2:
            # the clients get their own CPU(s): their work must not slow the server or the
            # simulated printer (which shares the server's CPU, as in the built-in link)
            for child in (proc, peer):
                if child is not None:
                    os.sched_setaffinity(child.pid, {cpus[0]})
            os.sched_setaffinity(0, set(cpus[1:]))
        try:
            results = asyncio.run(measure(args, f"ws://127.0.0.1:{port}/websocket",
                                          psutil.Process(proc.pid)))
        finally:
            for child in (proc, peer):
                if child is not None:
                    child.terminate()
                    child.wait(10)
    report(args, lines, results)


async def measure(args: argparse.Namespace, url: str, server: psutil.Process
                  ) -> dict[str, list[tuple[float, float, int]]]:
    """Alternate prints without and with the subscribed clients."""
    await wait_ready(url)
    results: dict[str, list[tuple[float, float, int]]] = {"without": [], "with": []}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session, \
            RpcClient.connect(url, session) as control:
        await control.call("printer.objects.subscribe",
                           {"objects": {"print_stats": ["state"]}})
        await print_once(control, args.file, server)  # warm-up
        for _run in range(args.runs):
            for phase in ("without", "with"):
                async with contextlib.AsyncExitStack() as stack:
                    subs: list[Subscriber] = []
                    if phase == "with":
                        subs = await open_subscribers(url, args.clients, session, stack)
                    seconds, cpu = await print_once(control, args.file, server)
                    updates = sum(s.updates for s in subs)
                    for sub in subs:
                        sub.task.cancel()
                results[phase].append((seconds, cpu, updates))
    return results


def report(args: argparse.Namespace, lines: int,
           results: dict[str, list[tuple[float, float, int]]]) -> None:
    """Medians per phase, and the median of the paired (back-to-back) rate drops."""
    print(f"file {args.file}: {lines} command lines, link {args.link}, "
          f"time_scale {args.time_scale}, {args.runs} runs per phase (medians)")
    rates = {}
    for phase, runs in results.items():
        seconds = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        updates = statistics.median(r[2] for r in runs)
        rates[phase] = lines / seconds
        clients = args.clients if phase == "with" else 0
        print(f"  {clients:>3} subscribed clients: {rates[phase]:8.0f} lines/s  "
              f"print {seconds:6.2f} s  moonlite CPU {cpu:6.2f} s ({100 * cpu / seconds:5.1f}%,"
              f" {1000 * cpu / lines:.3f} s per 1000 lines)  status updates received "
              f"{updates:.0f} ({updates / seconds:.0f}/s)")
    drop = 100 * (1 - rates["with"] / rates["without"])
    # each "with" run is compared to the "without" run just before it: load from outside
    # the benchmark (other processes) affects both alike
    paired = statistics.median(100 * (1 - without[0] / with_[0])
                               for without, with_ in zip(results["without"], results["with"],
                                                         strict=True))
    cpu_cost = statistics.median(100 * (with_[1] / without[1] - 1)
                                 for without, with_ in zip(results["without"],
                                                           results["with"], strict=True))
    print(f"  streaming rate drop with {args.clients} clients: {drop:.1f}% of the medians, "
          f"{paired:.1f}% median of back-to-back pairs (goal < 5%); "
          f"moonlite CPU +{cpu_cost:.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--file", default="cone_marlin2_thumbs.gcode")
    parser.add_argument("--time-scale", type=float, default=0.0)
    parser.add_argument("--link", choices=("virtual", "pty"), default="virtual",
                        help="the built-in virtual printer, or one in its own process on a pty")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
