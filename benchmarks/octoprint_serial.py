"""Drive OctoPrint 1.11 (own venv and config dir) to print to a pty, for benchmarks/serial.py.

OctoPrint runs as `octoprint serve` on 127.0.0.1 with a throwaway base folder; a user made with
its CLI gets an API key in users.yaml. Each run connects to the given pty, uploads the file,
starts the print and waits (polling /api/job every 0.1 s) for it to finish. The figures are the
wall time from the start command to the end of the job and the CPU seconds OctoPrint's process
used meanwhile (every thread: serial, web server, timers).
"""

from __future__ import annotations

import http.client
import json
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / "bench-venvs" / "octoprint"
VERSION = "1.11.8"

CONFIG = """\
server:
  firstRun: false
  onlineCheck: {enabled: false}
  pluginBlacklist: {enabled: false}
serial:
  additionalPorts: ["/dev/pts/*"]
  autoconnect: false
  log: false
plugins:
  _disabled: [tracking, announcements, softwareupdate, pluginmanager, backup, firmware_check,
              file_check, pi_support, achievements, health_check, gcodeviewer, discovery]
"""


def ensure_venv() -> Path:
    """The octoprint executable, installing OctoPrint into its own venv when missing."""
    octoprint = VENV / "bin" / "octoprint"
    if not octoprint.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, f"octoprint=={VERSION}"], check=True)
    return octoprint


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OctoPrint:
    """A running OctoPrint with a known API key (use as a context manager)."""

    def __init__(self) -> None:
        self.basedir = Path(tempfile.mkdtemp(prefix="octoprint-bench-"))
        self.port = _free_port()
        self.key = secrets.token_hex(16)
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> OctoPrint:
        octoprint = str(ensure_venv())
        (self.basedir / "config.yaml").write_text(CONFIG)
        base = [octoprint, "--basedir", str(self.basedir)]
        subprocess.run(
            [*base, "user", "add", "--password", "bench", "--admin", "bench"],
            check=True,
            capture_output=True,
        )
        users = self.basedir / "users.yaml"
        users.write_text(users.read_text().replace("apikey: null", f"apikey: {self.key}", 1))
        self.process = subprocess.Popen(
            [*base, "serve", "--iknowwhatimdoing", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                self.api("GET", "/api/version")
                return self
            except (urllib.error.URLError, ConnectionError, http.client.HTTPException):
                time.sleep(0.5)
        raise RuntimeError("OctoPrint did not come up")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.basedir, ignore_errors=True)

    def api(
        self, method: str, path: str, body: Any = None, data: bytes | None = None, ctype: str = ""
    ) -> Any:
        """One REST call with the API key; returns the decoded JSON (or None)."""
        headers = {"X-Api-Key": self.key}
        if body is not None:
            data = json.dumps(body).encode()
            ctype = "application/json"
        if ctype:
            headers["Content-Type"] = ctype
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, headers=headers, method=method
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def upload(self, name: str, content: bytes) -> None:
        """Upload a G-code file to local storage."""
        boundary = secrets.token_hex(8)
        data = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
        ctype = f"multipart/form-data; boundary={boundary}"
        self.api("POST", "/api/files/local", data=data, ctype=ctype)

    def _state(self) -> str:
        return str(self.api("GET", "/api/connection")["current"]["state"])

    def _wait(self, predicate: Any, timeout: float, poll: float = 0.1) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"OctoPrint stuck in state {self._state()!r}")
            time.sleep(poll)

    def print_lines(self, port: str, baudrate: int, lines: list[str]) -> tuple[float, float]:
        """Connect to `port`, print `lines`; return (wall seconds, OctoPrint CPU seconds)."""
        self.api("POST", "/api/connection", {"command": "connect", "port": port,
                                             "baudrate": baudrate, "autoconnect": False})
        self._wait(lambda: self._state() == "Operational", 60)
        name = f"bench-{secrets.token_hex(4)}.gcode"
        self.upload(name, ("\n".join(lines) + "\n").encode())
        self.api("POST", f"/api/files/local/{name}", {"command": "select"})
        assert self.process is not None
        proc = psutil.Process(self.process.pid)
        cpu0 = sum(proc.cpu_times()[:2])
        wall0 = time.perf_counter()
        self.api("POST", "/api/job", {"command": "start"})
        self._wait(lambda: self._state() != "Operational", 30, poll=0.02)
        self._wait(lambda: self._state() == "Operational", 3600)
        wall = time.perf_counter() - wall0
        cpu = sum(proc.cpu_times()[:2]) - cpu0
        self.api("POST", "/api/connection", {"command": "disconnect"})
        self._wait(lambda: self._state() in ("Closed", "Offline"), 30)
        return wall, cpu
