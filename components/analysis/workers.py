"""A small pool of estimator worker processes driven from asyncio (kill on timeout)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any

WORKER_MODULE = "moonlite.components.analysis.worker"
LINE_LIMIT = 1 << 26  # an answer line (a big estimate) may be long


class WorkerError(Exception):
    """A job failed: the message and the HTTP status to answer with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class WorkerPool:
    """Up to `size` worker processes; each runs one job at a time."""

    def __init__(self, size: int) -> None:
        self._slots = asyncio.Semaphore(size)
        self._idle: list[asyncio.subprocess.Process] = []
        self._busy: set[asyncio.subprocess.Process] = set()
        self.jobs_started = 0

    async def _spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", WORKER_MODULE,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT,
        )  # fmt: skip

    async def run(self, job: dict[str, Any], timeout: float) -> Any:
        """Run a job in a worker; raise WorkerError on failure or after `timeout` seconds."""
        async with self._slots:
            self.jobs_started += 1
            proc = self._idle.pop() if self._idle else await self._spawn()
            self._busy.add(proc)
            ok = False
            try:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(json.dumps(job).encode() + b"\n")
                await proc.stdin.drain()
                line = await asyncio.wait_for(proc.stdout.readline(), timeout)
                if not line:
                    raise WorkerError("Estimator worker exited unexpectedly", 500)
                answer = json.loads(line)
                ok = True
            except TimeoutError:
                raise WorkerError("Estimator timed out", 500) from None
            except (OSError, ValueError) as exc:
                raise WorkerError(f"Estimator worker failed: {exc}", 500) from None
            finally:
                self._busy.discard(proc)
                if ok and proc.returncode is None:
                    self._idle.append(proc)
                else:
                    await _stop(proc, kill=True)
        if "error" in answer:
            raise WorkerError(str(answer["error"]), int(answer.get("status", 500)))
        return answer.get("result")

    async def close(self) -> None:
        """Stop every worker (idle ones exit when their stdin closes, busy ones are killed)."""
        idle, self._idle = self._idle, []
        busy, self._busy = list(self._busy), set()
        await asyncio.gather(*(_stop(p, kill=False) for p in idle),
                             *(_stop(p, kill=True) for p in busy))


async def _stop(proc: asyncio.subprocess.Process, kill: bool) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, OSError):
        if kill:
            proc.kill()
        elif proc.stdin is not None:
            proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), 5.0)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
