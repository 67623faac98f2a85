"""A streaming job: G-code lines fed to the link as the window allows, with pause/resume/cancel."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from typing import Protocol

from .framing import strip_comment
from .state import PrinterState


class JobLink(Protocol):
    """What a job needs from the link."""

    @property
    def state(self) -> PrinterState: ...

    def set_state(self, state: PrinterState) -> None: ...

    def wake_sender(self) -> None: ...

    async def wait_drained(self) -> None: ...

    async def run_script(self, script: str | Sequence[str]) -> list[str]: ...

    def _job_finished(self, job: StreamJob) -> None: ...

S = PrinterState
#: lines pulled from an async source at a time
REFILL = 64


class StreamJob:
    """One job streaming lines into the printer (created by `MarlinProtocol.start_stream`).

    `done` resolves with "done" or "cancelled", or fails with the error that ended the job
    (`FirmwareReset`, `FirmwareError`, `LinkLost`, `CommunicationError`).
    """

    def __init__(
        self,
        link: JobLink,
        source: Iterable[str] | AsyncIterable[str],
        finish_script: Sequence[str] = (),
    ) -> None:
        self._link = link
        self._finish_script = list(finish_script)
        self._buffer: collections.deque[str] = collections.deque()
        self._iter: Iterator[str] | None = None
        self._aiter: AsyncIterator[str] | None = None
        if isinstance(source, AsyncIterable):
            self._aiter = aiter(source)
        else:
            self._iter = iter(source)
        #: command lines written (first time; resends not counted) and acknowledged
        self.sent = 0
        self.acked = 0
        #: no new lines are taken (paused, cancelled or failed)
        self.halted = False
        self.exhausted = False
        self.cancelled = False
        self._ending = False
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    # ------------------------------------------------------------------ feeding (link side)
    def peek_line(self) -> str | None:
        """The next command line to send (left in place), or None (exhausted, or refill due)."""
        buffer = self._buffer
        if buffer:
            return buffer[0]
        it = self._iter
        if it is None:
            return None
        for raw in it:
            cut = raw.find(";")
            line = (raw[:cut] if cut >= 0 else raw).strip()
            if line:
                buffer.append(line)
                return line
        self.exhausted = True
        return None

    def take_line(self) -> None:
        """Consume the line `peek_line` returned."""
        self._buffer.popleft()

    def needs_refill(self) -> bool:
        """Whether an async source must be awaited before more lines are available."""
        return (
            self._aiter is not None and not self._buffer and not self.exhausted and not self.halted
        )

    async def refill(self) -> None:
        """Pull up to `REFILL` command lines from the async source."""
        source = self._aiter
        assert source is not None
        while len(self._buffer) < REFILL:
            try:
                raw = await anext(source)
            except StopAsyncIteration:
                self.exhausted = True
                return
            line = strip_comment(raw)
            if line:
                self._buffer.append(line)

    def source_drained(self) -> None:
        """Every line is acknowledged: run the finish script and return to OPERATIONAL."""
        if self._ending or self.halted:
            return
        self._ending = True
        asyncio.get_running_loop().create_task(self._finish())

    async def _finish(self) -> None:
        link = self._link
        try:
            link.set_state(S.FINISHING)
            if self._finish_script:
                await link.run_script(self._finish_script)
            link.set_state(S.OPERATIONAL)
        except Exception as exc:
            self.fail(exc)
            return
        self._end("done")

    def fail(self, exc: BaseException) -> None:
        """End the job with `exc` (the link already decided the state)."""
        self.halted = True
        self._link._job_finished(self)
        if not self.done.done():
            self.done.set_exception(exc)
            self.done.exception()  # retrieved here: awaiting `done` still raises it

    def _end(self, result: str) -> None:
        self._link._job_finished(self)
        if not self.done.done():
            self.done.set_result(result)

    # ------------------------------------------------------------------ control (job side)
    async def pause(self, script: Sequence[str] = ()) -> None:
        """Stop taking lines, wait for those in flight, run `script`; PAUSING → PAUSED."""
        link = self._link
        if self.halted or link.state is not S.PRINTING:
            return
        self.halted = True
        link.set_state(S.PAUSING)
        await link.wait_drained()
        if script:
            await link.run_script(script)
        if link.state is S.PAUSING:
            link.set_state(S.PAUSED)

    async def resume(self, script: Sequence[str] = ()) -> None:
        """Run `script` and carry on streaming; RESUMING → PRINTING."""
        link = self._link
        if link.state is not S.PAUSED or self.cancelled or self.done.done():
            return
        link.set_state(S.RESUMING)
        if script:
            await link.run_script(script)
        if link.state is S.RESUMING:
            link.set_state(S.PRINTING)
            self.halted = False
            link.wake_sender()

    async def cancel(self, script: Sequence[str] = ()) -> None:
        """Stop, wait for the lines in flight, run `script`; CANCELLING → OPERATIONAL."""
        link = self._link
        if self.cancelled or self.done.done():
            return
        self.cancelled = True
        self.halted = True
        link.set_state(S.CANCELLING)
        try:
            await link.wait_drained()
            if script:
                await link.run_script(script)
            link.set_state(S.OPERATIONAL)
        except Exception as exc:
            self.fail(exc)
            raise
        self._end("cancelled")
