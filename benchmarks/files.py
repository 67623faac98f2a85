"""Upload benchmark: a large streamed upload's server memory growth and throughput vs a copy.

Run: `.venv/bin/python benchmarks/files.py [--size-mb 500] [--runs 3]`

A moonlite host serves in this process; the upload is sent by a separate Python process with
aiohttp streaming the file from disk (so neither side holds it in memory). A thread samples
this process's RSS every 10 ms; the growth is the peak during the upload minus the RSS just
before it. Throughput is compared with copying the same file on the same disk, both with the
fsync the upload does before it answers (durable) and without it (page cache only).
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
from pathlib import Path

import psutil
from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024

CLIENT = r"""
import asyncio, json, sys, time, aiohttp
async def main(url, path, name):
    async with aiohttp.ClientSession() as session:
        with open(path, "rb") as handle:
            form = aiohttp.FormData()
            form.add_field("file", handle, filename=name,
                           content_type="application/octet-stream")
            start = time.perf_counter()
            async with session.post(url, data=form) as resp:
                body = await resp.text()
            elapsed = time.perf_counter() - start
    print(json.dumps({"status": resp.status, "elapsed": elapsed, "body": body[:300]}))
asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
"""


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


async def upload_once(url: str, source: Path, name: str) -> tuple[float, int]:
    """Upload with the client process; (seconds, peak RSS growth in bytes of this process)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT, url, str(source), name,
        stdout=asyncio.subprocess.PIPE)
    with RssSampler() as sampler:
        baseline = sampler.peak
        out, _ = await proc.communicate()
    result = json.loads(out)
    if result["status"] != 201:  # the bare receiver answers 201 too
        raise RuntimeError(f"upload failed: {result}")
    return float(result["elapsed"]), sampler.peak - baseline


def hash_time(source: Path) -> float:
    """Seconds to SHA-256 the file (read from the page cache): a floor for any upload."""
    digest = hashlib.sha256()
    start = time.perf_counter()
    with source.open("rb") as src:
        while chunk := src.read(MIB):
            digest.update(chunk)
    return time.perf_counter() - start


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
        elapsed, _ = await upload_once(f"http://127.0.0.1:{port}/upload", source, "x")
    finally:
        await runner.cleanup()
    return elapsed


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
        bare = min([await bare_receive_time(source) for _ in range(runs)])
        config = f"[server]\nmax_upload_size: {size_mb * 2}\n\n[file_manager]\n"
        async with running_host(work / "data", config) as running:
            url = running.url + "/server/files/upload"
            # one warm-up upload (imports, thread pool, page cache), then measured ones
            await upload_once(url, source, "warmup.gcode")
            results = [await upload_once(url, source, f"run{i}.gcode") for i in range(runs)]
            for i in range(runs):
                (running.host.paths.gcodes / f"run{i}.gcode").unlink()
        best = min(t for t, _ in results)
        growth = max(g for _, g in results)
        print(f"file: {size / MIB:.0f} MiB on {work} ({runs} runs, best time)")
        print(f"plain copy + fsync : {size / MIB / copies[True]:8.1f} MiB/s")
        print(f"plain copy (cache) : {size / MIB / copies[False]:8.1f} MiB/s")
        print(f"HTTP upload        : {size / MIB / best:8.1f} MiB/s  "
              f"(multipart parse + SHA-256 + fsync + metadata)")
        print(f"SHA-256 alone      : {size / MIB / hashing:8.1f} MiB/s  (one core)")
        print(f"bare aiohttp recv  : {size / MIB / bare:8.1f} MiB/s  "
              f"(same client, handler discards the body)")
        print(f"upload / copy+fsync: {copies[True] / best * 100:6.1f} %  (goal >= 80 %)")
        print(f"upload / bare recv : {bare / best * 100:6.1f} %")
        print(f"upload / copy cache: {copies[False] / best * 100:6.1f} %")
        print(f"server RSS growth  : {growth / MIB:6.1f} MiB peak over the upload "
              f"(goal < 30 MiB; per run: "
              f"{', '.join(f'{g / MIB:.1f}' for _, g in results)})")


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
