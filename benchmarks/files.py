"""Upload benchmark: a large streamed upload's server memory growth and throughput vs a copy.

Run: `.venv/bin/python benchmarks/files.py [--size-mb 500] [--runs 3]`

A moonlite host serves in this process; the upload is sent by a separate Python process with
aiohttp streaming the file from disk (so neither side holds it in memory). A thread samples
this process's RSS every 10 ms; the growth is the peak during the upload minus the RSS just
before it. Throughput is compared with copying the same file on the same disk, both with the
fsync the upload does before it answers (durable) and without it (page cache only).

CPU accounting, to tell a slow upload path from a busy machine: the server's CPU seconds and the
client's over the upload, how busy the whole machine was meanwhile (other processes included),
the ceiling that CPU work allows on this machine's cores if nothing else ran, and the server's
work alone (parse + SHA-256 + write + fsync of the same body in one thread, no network).
Then, if it exists, `benchmarks/files_metadata.py` (the metadata comparison) is run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024

CLIENT = r"""
import asyncio, json, os, sys, time, aiohttp
def machine_busy():
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait
async def main(url, path, name):
    async with aiohttp.ClientSession() as session:
        with open(path, "rb") as handle:
            form = aiohttp.FormData()
            form.add_field("file", handle, filename=name,
                           content_type="application/octet-stream")
            busy, cpu, start = machine_busy(), os.times(), time.perf_counter()
            async with session.post(url, data=form) as resp:
                body = await resp.text()
            elapsed = time.perf_counter() - start
            end_cpu, end_busy = os.times(), machine_busy()
    print(json.dumps({"status": resp.status, "elapsed": elapsed, "body": body[:300],
                      "client_cpu": end_cpu.user + end_cpu.system - cpu.user - cpu.system,
                      "machine_busy": end_busy - busy}))
asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
"""


@dataclass
class UploadRun:
    """One upload as the client saw it, with the CPU it took."""

    elapsed: float
    rss_growth: int
    server_cpu: float
    client_cpu: float
    machine_busy: float


class RssSampler:
    """Peak RSS of this process, sampled from a thread."""

    def __init__(self, interval: float = 0.01) -> None:
        self.process = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_file(path: Path, size_mb: int) -> None:
    """A G-code-like file of `size_mb` MiB (incompressible enough, written once)."""
    line = b"G1 X%d.%03d Y%d.%03d E%d.%05d\n"
    block = b"".join(line % (i % 220, i % 1000, (i * 7) % 220, i % 997, i % 50, i)
                     for i in range(40000))
    with path.open("wb") as out:
        written = 0
        while written < size_mb * MIB:
            chunk = block[: size_mb * MIB - written]
            out.write(chunk)
            written += len(chunk)


def timed_copy(source: Path, dest: Path, fsync: bool) -> float:
    """Seconds to copy `source` to `dest` (and fsync it when asked)."""
    dest.unlink(missing_ok=True)
    start = time.perf_counter()
    with source.open("rb") as src, dest.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)
        if fsync:
            dst.flush()
            os.fsync(dst.fileno())
    elapsed = time.perf_counter() - start
    dest.unlink()
    return elapsed


async def upload_once(url: str, source: Path, name: str) -> UploadRun:
    """Upload with the client process; time, this process's RSS growth and CPU figures."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT, url, str(source), name,
        stdout=asyncio.subprocess.PIPE)
    start_cpu = os.times()
    with RssSampler() as sampler:
        baseline = sampler.peak
        out, _ = await proc.communicate()
    end_cpu = os.times()
    result = json.loads(out)
    if result["status"] != 201:  # the bare receiver answers 201 too
        raise RuntimeError(f"upload failed: {result}")
    # this process idles while the client starts: its CPU over the window is the upload's
    # (plus the RSS sampler's, a few ms)
    server_cpu = end_cpu.user + end_cpu.system - start_cpu.user - start_cpu.system
    return UploadRun(float(result["elapsed"]), sampler.peak - baseline, server_cpu,
                     float(result["client_cpu"]), float(result["machine_busy"]))


def hash_time(source: Path) -> float:
    """Seconds to SHA-256 the file (read from the page cache): a floor for any upload."""
    digest = hashlib.sha256()
    start = time.perf_counter()
    with source.open("rb") as src:
        while chunk := src.read(MIB):
            digest.update(chunk)
    return time.perf_counter() - start


def server_work_time(source: Path, folder: Path) -> float:
    """Seconds for the server's own work on the body in one thread, without the network.

    The file is read from the page cache in the chunks aiohttp hands over, framed as a
    multipart body and fed to the upload's parser and file target (SHA-256, write, fsync).
    """
    from moonlite.components.files.upload import TempFileTarget
    from streaming_form_data import StreamingFormDataParser

    boundary = "BenchBoundary42"
    parser = StreamingFormDataParser(
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    target = TempFileTarget(lambda: folder, 1 << 40)
    parser.register("file", target)
    start = time.perf_counter()
    parser.data_received(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="w.gcode"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n".encode())
    with source.open("rb") as src:
        while chunk := src.read(256 * 1024):
            parser.data_received(chunk)
    parser.data_received(f"\r\n--{boundary}--\r\n".encode())
    elapsed = time.perf_counter() - start
    if not target.complete or target.size != source.stat().st_size:
        raise RuntimeError("server work benchmark: the file part did not complete")
    target.discard()
    return elapsed


async def bare_receive_time(source: Path) -> float:
    """Seconds for the same client to send the file to an aiohttp handler that discards it."""

    async def discard(request: web.Request) -> web.Response:
        while await request.content.readany():
            pass
        return web.json_response({}, status=201)

    app = web.Application()
    app.router.add_post("/upload", discard)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        run = await upload_once(f"http://127.0.0.1:{port}/upload", source, "x")
    finally:
        await runner.cleanup()
    return run.elapsed


async def run(size_mb: int, runs: int) -> None:
    from moonlite.testing import running_host

    with tempfile.TemporaryDirectory(prefix="moonlite-bench-", dir=REPO.parent) as tmp:
        work = Path(tmp)
        source = work / "big.gcode"
        make_file(source, size_mb)
        size = source.stat().st_size
        copies = {fsync: min(timed_copy(source, work / "copy.gcode", fsync)
                             for _ in range(runs)) for fsync in (True, False)}
        hashing = min(hash_time(source) for _ in range(runs))
        alone = min(server_work_time(source, work) for _ in range(runs))
        bare = min([await bare_receive_time(source) for _ in range(runs)])
        config = f"[server]\nmax_upload_size: {size_mb * 2}\n\n[file_manager]\n"
        async with running_host(work / "data", config) as running:
            url = running.url + "/server/files/upload"
            # one warm-up upload (imports, thread pool, page cache), then measured ones
            await upload_once(url, source, "warmup.gcode")
            results = [await upload_once(url, source, f"run{i}.gcode") for i in range(runs)]
            for i in range(runs):
                (running.host.paths.gcodes / f"run{i}.gcode").unlink()
        best_run = min(results, key=lambda r: r.elapsed)
        best = best_run.elapsed
        growth = max(r.rss_growth for r in results)
        cores = os.cpu_count() or 1
        ceiling = size / ((best_run.server_cpu + best_run.client_cpu) / cores)
        print(f"file: {size / MIB:.0f} MiB on {work} ({runs} runs, best time)")
        print(f"plain copy + fsync : {size / MIB / copies[True]:8.1f} MiB/s")
        print(f"plain copy (cache) : {size / MIB / copies[False]:8.1f} MiB/s")
        print(f"HTTP upload        : {size / MIB / best:8.1f} MiB/s  "
              f"(multipart parse + SHA-256 + fsync + metadata)")
        print(f"SHA-256 alone      : {size / MIB / hashing:8.1f} MiB/s  (one core)")
        print(f"server work alone  : {size / MIB / alone:8.1f} MiB/s  "
              f"(parse + SHA-256 + write + fsync, one thread, no network)")
        print(f"bare aiohttp recv  : {size / MIB / bare:8.1f} MiB/s  "
              f"(same client, handler discards the body)")
        print(f"upload / copy+fsync: {copies[True] / best * 100:6.1f} %  (goal >= 80 %)")
        print(f"upload / bare recv : {bare / best * 100:6.1f} %")
        print(f"upload / copy cache: {copies[False] / best * 100:6.1f} %")
        print(f"server RSS growth  : {growth / MIB:6.1f} MiB peak over the upload "
              f"(goal < 30 MiB; per run: "
              f"{', '.join(f'{r.rss_growth / MIB:.1f}' for r in results)})")
        print(f"CPU, best run      : server {best_run.server_cpu:.2f} s, client "
              f"{best_run.client_cpu:.2f} s for {best:.2f} s; the machine was "
              f"{best_run.machine_busy / best / cores * 100:.0f} % busy on {cores} cores "
              f"(other processes included)")
        print(f"CPU-bound ceiling  : {ceiling / MIB:8.1f} MiB/s  (server + client CPU spread "
              f"over {cores} idle cores) = {ceiling / MIB / (size / MIB / copies[True]) * 100:.0f}"
              f" % of copy+fsync")


def main() -> None:
    """Parse arguments, run the upload benchmark, then the metadata one if present."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-metadata", action="store_true")
    args = parser.parse_args()
    asyncio.run(run(args.size_mb, args.runs))
    metadata_bench = REPO / "benchmarks" / "files_metadata.py"
    if not args.skip_metadata and metadata_bench.exists():
        print("\n-- metadata extraction (benchmarks/files_metadata.py) --", flush=True)
        subprocess.run([sys.executable, str(metadata_bench)], check=False)


if __name__ == "__main__":
    main()
