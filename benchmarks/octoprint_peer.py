"""The OctoPrint 1.11 side of the printer-link benchmark: print a G-code file over a pty, measured.

Run: .venv/bin/python benchmarks/octoprint_peer.py [--file torus_marlin.gcode] [--lines N]
     [--baud 115200 --baud 250000] [--advanced-ok on|off|both]

`run_octoprint_print(pty_path, gcode_file, baudrate, workdir)` starts OctoPrint headless (its own
venv under bench-venvs/octoprint, created on first use, and its own basedir in `workdir`),
connects it to the serial device `pty_path` over its REST API, uploads and prints the file and
returns the streaming time (OctoPrint's own "Print job started"/"Print job done" log stamps),
lines per second and OctoPrint's CPU seconds (user+sys, children included) over the print.
While printing nothing polls OctoPrint's API (that would cost it CPU): the end is seen in its
log. Run as a script it serves a virtual printer itself (pty, emulated baud, 1 ms latency,
4-slot buffer, instantaneous moves), checks the printer executed every command line of the
file in order, and prints a table. OctoPrint keeps one line in flight whatever ADVANCED_OK says.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if __name__ == "__main__":  # as a script this folder leads sys.path; serial.py shadows pyserial
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime  # noqa: E402

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from moonlite.testing import gcode_command_lines  # noqa: E402

REPO = BENCH_DIR.parent
SHARED = REPO.parent / "shared" / "gcode"
VENV = REPO / "bench-venvs" / "octoprint"
REQUIREMENT = "octoprint>=1.11,<1.12"
#: bundled plugins that phone home or scan the network; nothing a print needs
DISABLED_PLUGINS = [
    "announcements",
    "discovery",
    "errortracking",
    "pluginmanager",
    "softwareupdate",
    "tracking",
]
LOG_STAMP = "%Y-%m-%d %H:%M:%S,%f"


@dataclass
class OctoPrintResult:
    """One OctoPrint print: the streaming phase and what it cost OctoPrint."""

    lines: int  # command lines in the file (what OctoPrint sends of it)
    stream_seconds: float  # "Print job started" to "Print job done" in OctoPrint's log
    wall_seconds: float  # the select+print request to the job seen done, as a client sees it
    cpu_seconds: float  # OctoPrint's user+sys CPU (children included) over the print
    version: str  # OctoPrint's version

    @property
    def lines_per_second(self) -> float:
        """Command lines per second over the streaming phase."""
        return self.lines / self.stream_seconds

    @property
    def cpu_per_10k_lines(self) -> float:
        """OctoPrint CPU seconds per 10,000 command lines."""
        return self.cpu_seconds / self.lines * 10_000


def ensure_venv(venv: Path = VENV) -> Path:
    """The `octoprint` executable of `venv`; creates the venv and installs OctoPrint if missing."""
    executable = venv / "bin" / "octoprint"
    if not executable.exists():
        print(f"installing {REQUIREMENT} into {venv} (once, takes a few minutes)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q", REQUIREMENT]
        subprocess.run(pip, check=True)
    return executable


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_basedir(executable: Path, basedir: Path) -> str:
    """Create an admin user with an API key in `basedir` once; returns the key."""
    key_file = basedir / "bench-apikey"
    if key_file.exists():
        return key_file.read_text().strip()
    basedir.mkdir(parents=True, exist_ok=True)
    base = [str(executable), "--basedir", str(basedir)]
    add = [*base, "user", "add", "admin", "--password", secrets.token_hex(8), "--admin"]
    subprocess.run(add, check=True, capture_output=True)
    apikey = secrets.token_hex(16).upper()
    # a per-user key (the global api.key logs a deprecation warning on every request)
    set_key = (
        "import sys, yaml\n"
        "path, key = sys.argv[1], sys.argv[2]\n"
        "users = yaml.safe_load(open(path))\n"
        "users['admin']['apikey'] = key\n"
        "yaml.safe_dump(users, open(path, 'w'))\n"
    )
    python = executable.parent / "python"
    subprocess.run([str(python), "-c", set_key, str(basedir / "users.yaml"), apikey], check=True)
    key_file.write_text(apikey)
    return apikey


def write_config(basedir: Path, pty_path: str, baudrate: int, port: int) -> None:
    """config.yaml (JSON is YAML): no wizard, nothing online, no analysis, no serial log."""
    config = {
        "server": {
            "host": "127.0.0.1",
            "port": port,
            "firstRun": False,
            "onlineCheck": {"enabled": False},
            "pluginBlacklist": {"enabled": False},
            "pythonEolCheck": {"enabled": False},
        },
        "accessControl": {"autologinLocal": False},
        "plugins": {"_disabled": DISABLED_PLUGINS},
        "gcodeAnalysis": {"runAt": "never"},
        "serial": {
            "port": pty_path,
            "baudrate": baudrate,
            "autoconnect": False,
            "additionalPorts": [pty_path],
            "log": False,
        },
    }
    (basedir / "config.yaml").write_text(json.dumps(config, indent=1))


def cpu_seconds(process: psutil.Process) -> float:
    """User+sys CPU of `process`, its reaped children and its live descendants."""
    times = process.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in process.children(recursive=True):
        try:
            child_times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += child_times.user + child_times.system
    return float(total)


class OctoPrintServer:
    """A headless `octoprint serve` on 127.0.0.1 with its own basedir, driven over REST."""

    def __init__(self, executable: Path, basedir: Path, port: int, apikey: str) -> None:
        self.executable = executable
        self.basedir = basedir
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.headers = {"X-Api-Key": apikey}
        self.log_path = basedir / "logs" / "octoprint.log"
        self.process: asyncio.subprocess.Process | None = None
        self.session: aiohttp.ClientSession | None = None

    async def start(self, timeout: float = 120.0) -> str:
        """Start the server and wait until its API answers; returns OctoPrint's version."""
        # OctoPrint refuses to run as root unless told (containers often are root)
        as_root = ["--iknowwhatimdoing"] if os.geteuid() == 0 else []
        with (self.basedir / "console.log").open("wb") as console:
            self.process = await asyncio.create_subprocess_exec(
                *[str(self.executable), "--basedir", str(self.basedir), "serve", *as_root],
                *["--host", "127.0.0.1", "--port", str(self.port)],
                stdout=console,
                stderr=subprocess.STDOUT,
            )
        self.session = aiohttp.ClientSession(self.base_url, headers=self.headers)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.returncode is not None:
                raise RuntimeError(f"octoprint exited; see {self.basedir / 'console.log'}")
            try:
                version = await self.get("/api/version")
                return str(version["server"])
            except (aiohttp.ClientError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.2)  # polling a starting server; there is nothing to wait on

    async def get(self, path: str) -> dict[str, object]:
        """GET a JSON resource."""
        assert self.session is not None
        async with self.session.get(path) as response:
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {await response.text()}")
            return dict(await response.json())

    async def post(self, path: str, body: dict[str, object]) -> None:
        """POST a JSON command."""
        assert self.session is not None
        async with self.session.post(path, json=body) as response:
            if response.status >= 300:
                raise RuntimeError(f"POST {path}: {response.status} {await response.text()}")

    async def connect(self, pty_path: str, baudrate: int, timeout: float = 60.0) -> None:
        """Connect to the printer and wait for the Operational state."""
        body = {"command": "connect", "port": pty_path, "baudrate": baudrate}
        await self.post("/api/connection", body)
        await self.wait_state({"Operational"}, timeout)

    async def wait_state(self, states: set[str], timeout: float) -> str:
        """Poll the connection state until it is one of `states`."""
        deadline = time.monotonic() + timeout
        while True:
            current = await self.get("/api/connection")
            state = str(dict(current["current"])["state"])  # type: ignore[call-overload]
            if state in states:
                return state
            if state.startswith("Error") or time.monotonic() > deadline:
                raise RuntimeError(f"printer state {state!r}, wanted {sorted(states)}")
            await asyncio.sleep(0.1)  # before a print; costs nothing we measure

    async def upload(self, gcode_file: Path, name: str) -> None:
        """Upload `gcode_file` as `name` to local storage."""
        assert self.session is not None
        form = aiohttp.FormData()
        form.add_field("file", gcode_file.read_bytes(), filename=name)
        async with self.session.post("/api/files/local", data=form) as response:
            if response.status >= 300:
                raise RuntimeError(f"upload: {response.status} {await response.text()}")

    async def stop(self) -> None:
        """Close the client session and stop the server (SIGTERM, then SIGKILL)."""
        if self.session is not None:
            await self.session.close()
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def job_stamps(log_path: Path, offset: int) -> tuple[datetime | None, datetime | None, str]:
    """Times of "Print job started"/"done" after `offset` in the log, and any failure line."""
    started = done = None
    failure = ""
    with log_path.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        for line in handle:
            if " - Print job started" in line:
                started = datetime.strptime(line[:23], LOG_STAMP)
            elif " - Print job done" in line:
                done = datetime.strptime(line[:23], LOG_STAMP)
            elif " - Print job cancelled" in line or " - Print job failed" in line:
                failure = line.strip()
    return started, done, failure


async def run_octoprint_print(
    pty_path: str,
    gcode_file: Path,
    baudrate: int,
    workdir: Path,
    timeout: float = 900.0,
) -> OctoPrintResult:
    """Print `gcode_file` with OctoPrint to the printer on `pty_path`; measure the streaming."""
    executable = await asyncio.to_thread(ensure_venv)
    basedir = workdir / "octoprint-basedir"
    apikey = await asyncio.to_thread(prepare_basedir, executable, basedir)
    port = free_port()
    write_config(basedir, pty_path, baudrate, port)
    lines = len(gcode_command_lines(gcode_file))
    server = OctoPrintServer(executable, basedir, port, apikey)
    try:
        version = await server.start()
        await server.connect(pty_path, baudrate)
        name = f"bench-{secrets.token_hex(4)}.gcode"
        await server.upload(gcode_file, name)
        assert server.process is not None
        process = psutil.Process(server.process.pid)
        log_offset = server.log_path.stat().st_size
        cpu0, wall0 = cpu_seconds(process), time.perf_counter()
        await server.post(f"/api/files/local/{name}", {"command": "select", "print": True})
        deadline = time.monotonic() + timeout
        while True:
            started, done, failure = job_stamps(server.log_path, log_offset)
            if failure:
                raise RuntimeError(f"OctoPrint: {failure}")
            if done is not None:
                break
            if server.process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"print did not finish; see {server.log_path}")
            await asyncio.sleep(0.05)  # watching OctoPrint's log costs OctoPrint nothing
        cpu, wall = cpu_seconds(process) - cpu0, time.perf_counter() - wall0
        assert started is not None
        stream = (done - started).total_seconds()
        return OctoPrintResult(lines, stream, wall, cpu, version)
    finally:
        await server.stop()


def run_octoprint(pty_path: str, baudrate: int, lines: list[str]) -> tuple[float, float]:
    """Synchronous helper: print `lines` with OctoPrint; returns (stream seconds, CPU seconds)."""
    with tempfile.TemporaryDirectory(prefix="octoprint-peer-") as tmp:
        gcode = Path(tmp) / "bench.gcode"
        gcode.write_text("".join(line + "\n" for line in lines))
        result = asyncio.run(run_octoprint_print(pty_path, gcode, baudrate, Path(tmp)))
    return result.stream_seconds, result.cpu_seconds


def wire_limit(commands: list[str], baudrate: int) -> float:
    """Lines per second the wire carries: (baud/10) / mean framed line length."""
    from moonlite.virtual_printer import frame

    mean = statistics.fmean(len(frame(i + 1, c)) for i, c in enumerate(commands))
    return baudrate / 10 / mean


def executed_in_order(executed: list[str], commands: list[str]) -> bool:
    """Whether the printer executed `commands` once each, in order, as one contiguous run."""
    if not commands:
        return True
    for start, text in enumerate(executed):
        if text == commands[0] and executed[start : start + len(commands)] == commands:
            return True
    return False


async def run_standalone(
    gcode_file: Path, baudrate: int, advanced_ok: bool, workdir: Path
) -> tuple[OctoPrintResult, bool]:
    """Serve a benchmark virtual printer on a pty here and print `gcode_file` with OctoPrint."""
    from moonlite.virtual_printer import PtyServer, VirtualPrinter, VirtualPrinterOptions

    options = VirtualPrinterOptions(
        baudrate=baudrate, latency=0.001, buffer_size=4, advanced_ok=advanced_ok, time_scale=0.0
    )
    printer = VirtualPrinter(options)
    server = PtyServer(printer)
    pty_path = await server.start()
    try:
        result = await run_octoprint_print(pty_path, gcode_file, baudrate, workdir)
    finally:
        await server.close()
    return result, executed_in_order(printer.executed, gcode_command_lines(gcode_file))


def main() -> None:
    """Parse arguments, print with OctoPrint at each baud rate and ADVANCED_OK mode, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="torus_marlin.gcode", help="path or name in shared/gcode")
    parser.add_argument("--lines", type=int, default=6000, help="first N command lines (0: all)")
    parser.add_argument("--baud", type=int, action="append", help="repeatable; 115200 and 250000")
    parser.add_argument("--advanced-ok", choices=["on", "off", "both"], default="both")
    parser.add_argument("--workdir", type=Path, help="keep OctoPrint's basedir and logs here")
    args = parser.parse_args()
    source = Path(args.file) if Path(args.file).exists() else SHARED / args.file
    bauds = args.baud or [115200, 250000]
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.advanced_ok]
    with tempfile.TemporaryDirectory(prefix="octoprint-peer-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        gcode = source
        if args.lines:
            gcode = workdir / source.name
            gcode.write_text("".join(c + "\n" for c in gcode_command_lines(source)[: args.lines]))
        commands = gcode_command_lines(gcode)
        header = f"{'run':<34} {'lines/s':>8} {'limit':>8} {'of wire':>7} {'CPU s/10k':>9}"
        rows = [header + f" {'stream s':>8} {'wall s':>7} {'exact':>5}"]
        for baudrate in bauds:
            for advanced_ok in modes:
                result, exact = asyncio.run(run_standalone(gcode, baudrate, advanced_ok, workdir))
                limit = wire_limit(commands, baudrate)
                label = f"OctoPrint {baudrate} ADVANCED_OK {'on' if advanced_ok else 'off'}"
                rows.append(
                    f"{label:<34} {result.lines_per_second:8.1f} {limit:8.1f}"
                    f" {result.lines_per_second / limit:7.1%} {result.cpu_per_10k_lines:9.2f}"
                    f" {result.stream_seconds:8.2f} {result.wall_seconds:7.2f} {exact!s:>5}"
                )
                print(rows[-1], flush=True)
    print()
    print(f"OctoPrint {result.version}, {source.name}, {len(commands)} command lines,")
    print("virtual printer: 1 ms latency, 4-slot buffer, instantaneous moves")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
