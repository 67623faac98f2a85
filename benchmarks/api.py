"""API speed and idle memory: moonlite and stock Moonraker 0.11.0 side by side in one run.

    .venv/bin/python benchmarks/api.py [--duration 3] [--repeat 3] [--clients 50]

Starts stock Moonraker 0.11.0 (PyPI `moonraker`, in its own venv under bench-venvs/moonraker,
created on first use) with a minimal config and no Klippy, and moonlite twice: with a config
that loads the same core set Moonraker runs without Klippy, and on its embedded defaults
(virtual printer, files, history, analysis, plugins). Each server gets its own loopback port
and data folder; they run side by side and take turns being measured. The load comes from a
separate process (pinned to another CPU than the
servers when the machine has two or more) so that it does not share the servers' CPU. For each
server it measures: websocket `server.info` round trips per second from 1 client and from N
concurrent clients, HTTP `GET /server/info` requests per second, p50/p99 latency, the server's
CPU time per request (and its inverse, the requests one core could serve if the server were the
limit), and the idle RSS after start-up settles. Each figure is the best of --repeat runs.
Prints one table with the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MOONRAKER_VENV = REPO / "bench-venvs" / "moonraker"
MOONRAKER_VERSION = "0.11.0"
MOONLITE = REPO / ".venv" / "bin" / "moonlite"
SETTLE = 10.0  # seconds after the first answer before idle RSS is read
WARMUP = 1.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

MOONRAKER_CONF = """\
[server]
host: 127.0.0.1
port: {port}
klippy_uds_address: {data}/no-klippy.sock

[authorization]
trusted_clients: 127.0.0.0/8

[machine]
provider: none
validate_service: False

[announcements]
enable_moonlight: False
"""

#: the core set (what Moonraker serves without Klippy); no plugins from the environment
MOONLITE_CORE_CONF = """\
[server]
host: 127.0.0.1

[plugins]
load_entry_points: False
load_folder: False
"""


# -- load generator (runs in its own process) ------------------------------------------------
#
# A small hand-written client on blocking sockets and one selector: it costs a few
# microseconds per request, so the figures measure the servers rather than the client
# (an aiohttp client capped both servers at the same ~1,800 round trips per second).

WS_REQUEST = '{{"jsonrpc": "2.0", "method": "server.info", "id": {}}}'


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def _read_head(sock: socket.socket) -> tuple[bytes, bytearray]:
    """Read an HTTP response head; return it and whatever came after it."""
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed while reading the response head")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    return head, bytearray(rest)


def _ws_frame(payload: bytes) -> bytes:
    """A masked client text frame (an all-zero mask key leaves the payload as it is)."""
    size = len(payload)
    if size < 126:
        header = bytes([0x81, 0x80 | size])
    elif size < 65536:
        header = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
    return header + b"\x00\x00\x00\x00" + payload


class _LoadConnection:
    """One client connection that keeps exactly one request in flight."""

    def __init__(self, kind: str, host: str, port: int, path: str) -> None:
        self.kind = kind
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.req_id = 0
        self.sent_at = 0.0
        self.buf = bytearray()
        if kind == "ws":
            self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
            head, self.buf = _read_head(self.sock)
            if not head.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(f"websocket upgrade refused: {head[:100]!r}")
        else:
            self.http_request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                                 "Accept: */*\r\n\r\n").encode()

    def send(self) -> None:
        """Send the next request."""
        self.req_id += 1
        self.sent_at = time.perf_counter()
        if self.kind == "ws":
            self.sock.sendall(_ws_frame(WS_REQUEST.format(self.req_id).encode()))
        else:
            self.sock.sendall(self.http_request)

    def feed(self, data: bytes) -> bool:
        """Take received bytes; True when the reply to the request in flight is complete."""
        self.buf += data
        return self._ws_reply() if self.kind == "ws" else self._http_reply()

    def _ws_reply(self) -> bool:
        buf = self.buf
        while len(buf) >= 2:
            opcode, size, offset = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if size == 126:
                if len(buf) < 4:
                    return False
                size, offset = int.from_bytes(buf[2:4], "big"), 4
            elif size == 127:
                if len(buf) < 10:
                    return False
                size, offset = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < offset + size:
                return False
            payload = bytes(buf[offset:offset + size])
            del buf[:offset + size]
            if opcode == 0x9:  # ping: answer it
                self.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            elif opcode == 0x8:
                raise ConnectionError("the server closed the websocket")
            elif opcode == 0x1 and b'"id"' in payload:  # else a notification
                # one request in flight: any reply is its reply; not decoded, to keep the
                # client cheap (the servers' JSON differs only in spacing)
                if b'"result"' not in payload:
                    raise RuntimeError(f"error reply: {payload[:200]!r}")
                return True
        return False

    def _http_reply(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        if not head[0].startswith("HTTP/1.1 200"):
            raise RuntimeError(f"HTTP answer: {head[0]}")
        length = None
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            raise RuntimeError("response without Content-Length")
        if len(self.buf) < end + 4 + length:
            return False
        if not self.buf.startswith(b'{"result"', end + 4):
            raise RuntimeError(f"unexpected body: {bytes(self.buf[end + 4:end + 60])!r}")
        del self.buf[:end + 4 + length]
        return True


def _run_load(kind: str, url: str, clients: int, duration: float) -> dict[str, Any]:
    """Keep one request in flight on each of `clients` connections for `duration` s."""
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    conns = [_LoadConnection(kind, host, int(port), "/" + path) for _ in range(clients)]
    selector = selectors.DefaultSelector()
    start = time.perf_counter() + WARMUP
    end = start + duration
    latencies: list[float] = []
    total = 0
    for conn in conns:
        selector.register(conn.sock, selectors.EVENT_READ, conn)
        conn.send()
    open_conns = len(conns)
    while open_conns:
        for key, _ in selector.select(timeout=10):
            conn = key.data
            data = conn.sock.recv(262144)
            if not data:
                raise ConnectionError("the server closed the connection")
            if not conn.feed(data):
                continue
            done = time.perf_counter()
            total += 1
            if start <= conn.sent_at and done <= end:
                latencies.append(done - conn.sent_at)
            if done >= end:
                selector.unregister(conn.sock)
                conn.sock.close()
                open_conns -= 1
            else:
                conn.send()
    return {"rps": len(latencies) / duration, "p50_ms": _percentile(latencies, 50) * 1000,
            "p99_ms": _percentile(latencies, 99) * 1000, "total_requests": total}


def run_load(args: argparse.Namespace) -> int:
    """`--load ws|http`: generate load against one URL and print the figures as JSON."""
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    print(json.dumps(_run_load(args.load, args.url, args.clients, args.duration)))
    return 0


# -- servers ---------------------------------------------------------------------------------

def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_moonraker_venv() -> Path:
    """The moonraker executable of bench-venvs/moonraker (created and installed if missing)."""
    exe = MOONRAKER_VENV / "bin" / "moonraker"
    if not exe.exists():
        print(f"creating {MOONRAKER_VENV} with moonraker=={MOONRAKER_VERSION} ...",
              file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(MOONRAKER_VENV)], check=True)
        subprocess.run([str(MOONRAKER_VENV / "bin" / "pip"), "install", "-q",
                        f"moonraker=={MOONRAKER_VERSION}"], check=True)
    return exe


@dataclass
class Server:
    """One server process under test."""

    label: str
    argv: list[str]
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    idle_rss_mb: float = 0.0
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def start(self, cpu: int | None) -> None:
        """Launch the process (pinned to `cpu`) with its output in a log file."""
        log = (self.workdir / "server.log").open("wb")
        self.proc = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll `GET /server/info` until it answers 200."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/server/info"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited; see {self.workdir / 'server.log'}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.label} did not answer in {timeout:.0f} s")

    def rss_mb(self) -> float:
        """Resident set size now."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self) -> None:
        """Terminate the process."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def moonraker_server(root: Path) -> Server:
    """Stock Moonraker on its own port and data folder, no Klippy."""
    exe = ensure_moonraker_venv()
    port = free_port()
    data = root / "moonraker"
    (data / "config").mkdir(parents=True)
    conf = data / "config" / "moonraker.conf"
    conf.write_text(MOONRAKER_CONF.format(port=port, data=data))
    return Server(f"moonraker {MOONRAKER_VERSION}",
                  [str(exe), "-d", str(data), "-c", str(conf), "-n"], port, data)


def moonlite_server(root: Path, label: str, config: str | None) -> Server:
    """moonlite on its own port and data folder; `config` None means embedded defaults."""
    port = free_port()
    data = root / label.replace(" ", "_").replace("(", "").replace(")", "")
    data.mkdir(parents=True)
    argv = [str(MOONLITE), "-d", str(data), "-p", str(port), "-n"]
    if config is not None:
        conf = data / "moonlite.conf"
        conf.write_text(config)
        argv[1:1] = ["-c", str(conf)]
    return Server(label, argv, port, data)


def idle_rss(server: Server) -> None:
    """The median of five RSS samples over 2.5 s."""
    samples = []
    for _ in range(5):
        samples.append(server.rss_mb())
        time.sleep(0.5)
    server.idle_rss_mb = statistics.median(samples)


def load_once(server: Server, key: str, args: argparse.Namespace, load_cpu: int | None
              ) -> dict[str, Any]:
    """One run of figure `key` against `server`, with the server's CPU time per request."""
    base = f"127.0.0.1:{server.port}"
    kind, url, clients = {
        "ws1": ("ws", f"ws://{base}/websocket", 1),
        "wsN": ("ws", f"ws://{base}/websocket", args.clients),
        "http": ("http", f"http://{base}/server/info", args.http_concurrency)}[key]
    cpu_before = server.cpu_seconds()
    cmd = [sys.executable, __file__, "--load", kind, "--url", url, "--clients", str(clients),
           "--duration", str(args.duration)]
    if load_cpu is not None:
        cmd += ["--cpu", str(load_cpu)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          timeout=args.duration + 120)
    if done.returncode != 0:
        raise RuntimeError(f"load {key} on {server.label} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["cpu_us_per_req"] = (server.cpu_seconds() - cpu_before) / max(
        1, result["total_requests"]) * 1e6
    return result


def measure_all(servers: list[Server], args: argparse.Namespace, load_cpu: int | None) -> None:
    """Idle RSS of each, then every figure, the servers taking turns.

    The servers run side by side (idle unless measured) and take turns run by run, so that
    whatever else loads the machine meanwhile falls on all of them alike; the best of the
    `--repeat` runs of a figure is kept.
    """
    for server in servers:
        server.wait_ready()
    time.sleep(SETTLE)
    for server in servers:
        idle_rss(server)
    tries: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for key in ("ws1", "wsN", "http"):
        for _ in range(args.repeat):
            for server in servers:
                tries.setdefault((server.label, key), []).append(
                    load_once(server, key, args, load_cpu))
        for server in servers:
            runs = tries[(server.label, key)]
            server.results[key] = max(runs, key=lambda r: r["rps"])
            print(f"  {server.label}: {key} " + ", ".join(f"{r['rps']:.0f}" for r in runs)
                  + " req/s", file=sys.stderr)


# -- report ----------------------------------------------------------------------------------

def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def print_table(servers: list[Server], clients: int, concurrency: int) -> None:
    """One row per figure, one column per server, plus ratios to the first server."""
    base = servers[0]
    rows: list[tuple[str, str, bool, int]] = []  # (label, key, higher is better, digits)
    names = {"ws1": "ws server.info, 1 client", "wsN": f"ws server.info, {clients} clients",
             "http": f"HTTP GET /server/info, {concurrency} conns"}
    for key in ("ws1", "wsN", "http"):
        rows += [(f"{names[key]}: req/s", f"{key}.rps", True, 0),
                 (f"{names[key]}: p50 ms", f"{key}.p50_ms", False, 2),
                 (f"{names[key]}: p99 ms", f"{key}.p99_ms", False, 2),
                 (f"{names[key]}: server CPU us/req", f"{key}.cpu_us_per_req", False, 0),
                 (f"{names[key]}: req per server CPU-second", f"{key}.per_cpu_s", True, 0)]
    rows.append(("idle RSS MB", "rss", False, 1))

    def value(server: Server, key: str) -> float:
        if key == "rss":
            return server.idle_rss_mb
        run, metric = key.split(".")
        if metric == "per_cpu_s":  # what one core could serve if the server were the limit
            return 1e6 / float(server.results[run]["cpu_us_per_req"])
        return float(server.results[run][metric])

    header = ["figure"] + [s.label for s in servers] + [f"{s.label} / {base.label}"
                                                       for s in servers[1:]]
    table = [header]
    for label, key, _, digits in rows:
        line = [label] + [_fmt(value(s, key), digits) for s in servers]
        for server in servers[1:]:
            line.append(f"{value(server, key) / value(base, key):.2f}x")
        table.append(line)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, line in enumerate(table):
        print("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j])
                        for j, c in enumerate(line)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print()
    for server in servers[1:]:
        throughput = min(value(server, f"{k}.rps") / value(base, f"{k}.rps")
                         for k in ("ws1", "wsN", "http"))
        rss = server.idle_rss_mb / base.idle_rss_mb
        print(f"{server.label}: lowest throughput ratio {throughput:.2f}x (goal >= 2x: "
              f"{'met' if throughput >= 2 else 'NOT met'}), idle RSS ratio {rss:.2f}x "
              f"(goal <= 0.75x: {'met' if rss <= 0.75 else 'NOT met'})")


def main() -> int:
    """Run the side-by-side benchmark (or, with --load, one load generator)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--clients", type=int, default=50, help="concurrent websockets")
    parser.add_argument("--http-concurrency", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per figure; the best is reported (the machine is shared)")
    parser.add_argument("--skip-moonraker", action="store_true")
    parser.add_argument("--skip-defaults", action="store_true",
                        help="do not measure moonlite on its embedded defaults")
    parser.add_argument("--load", choices=("ws", "http"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        return run_load(args)

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, load_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    with tempfile.TemporaryDirectory(prefix="moonlite-bench-") as tmp:
        root = Path(tmp)
        servers: list[Server] = []
        if not args.skip_moonraker:
            servers.append(moonraker_server(root))
        servers.append(moonlite_server(root, "moonlite (core)", MOONLITE_CORE_CONF))
        if not args.skip_defaults:
            servers.append(moonlite_server(root, "moonlite (defaults)", None))
        print(f"servers on CPU {server_cpu}, load generator on CPU {load_cpu}; "
              f"{args.duration:.0f} s per figure", file=sys.stderr)
        try:
            for server in servers:
                server.start(server_cpu)
            measure_all(servers, args, load_cpu)
        finally:
            for server in servers:
                server.stop()
        print_table(servers, args.clients, args.http_concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
