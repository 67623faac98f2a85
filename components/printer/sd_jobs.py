"""Printing from the printer's SD card: M23 select, M24 start/resume, M25 pause, M27 progress."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moonlite.components.printer import parser
from moonlite.components.printer.errors import CommandError, PrinterLinkError
from moonlite.components.printer.job_source import FileSource
from moonlite.components.printer.job_state import COMPLETE, ERROR, PrintJob, SelectedFile
from moonlite.components.printer.state import PrinterState
from moonlite.components.printer.tasks import cancel_and_wait

from moonlite.events import Events
from moonlite.rpc import ApiError

if TYPE_CHECKING:
    from moonlite.components.printer.jobs import JobManager

log = logging.getLogger(__name__)
S = PrinterState
#: M27 polling interval when the firmware does not autoreport the SD status
POLL_INTERVAL = 1.0
#: lines of an upload in flight (queued in the link) at a time
UPLOAD_WINDOW = 32
_NOT_83 = re.compile(r"[^A-Z0-9_-]")


def sd_name(name: str) -> str:
    """An 8.3 name for the card: `My part v2.gcode` -> `MYPARTV2.GCO`."""
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return (_NOT_83.sub("", stem.upper())[:8] or "FILE") + ".GCO"


class SdPrinting:
    """The SD side of the job layer: the firmware reads the file, the host follows it."""

    def __init__(self, jobs: JobManager) -> None:
        self.jobs = jobs
        self._poller: asyncio.Task[None] | None = None
        self._finisher: asyncio.Task[None] | None = None
        jobs.link.listeners.sd.append(self._on_sd)

    @property
    def link(self) -> Any:
        """The protocol engine."""
        return self.jobs.link

    async def select(self, name: str) -> SelectedFile:
        """`M23 <name>`; the size comes from the firmware's `File opened:` answer."""
        if not self.link.is_operational:
            raise ApiError("Printer not ready", 503)
        name = name.strip().lstrip("/")
        try:
            lines = await self.link.send(f"M23 {name}")
        except CommandError as exc:
            raise ApiError(f"SD card: {exc.message}", 404) from None
        except PrinterLinkError as exc:
            raise ApiError(f"Printer not ready: {exc}", 503) from None
        for line in lines:
            opened = parser.parse_file_opened(line)
            if opened is not None:
                return SelectedFile(name, "sdcard", opened[1])
        raise ApiError(f"File not found on the SD card: {name}", 404)

    async def start(self, job: PrintJob) -> None:
        """Start the selected SD file (`M24`); PRINTING."""
        link = self.link
        link.set_state(S.PRINTING)
        try:
            await link.send("M24")
        except PrinterLinkError as exc:
            if link.state is S.PRINTING:
                link.set_state(S.OPERATIONAL)
            raise ApiError(f"Could not start the SD print: {exc}", 500) from None
        self._start_polling(job)

    def _start_polling(self, job: PrintJob) -> None:
        cfg = self.link.config
        if self.link.firmware.has("AUTOREPORT_SD_STATUS") and cfg.sd_status_autoreport:
            return
        self._poller = asyncio.create_task(self._poll(job), name="printer-m27")

    async def _poll(self, job: PrintJob) -> None:
        while job.active:
            await asyncio.sleep(POLL_INTERVAL)
            if job.state == "printing" and self.link.is_operational:
                with contextlib.suppress(PrinterLinkError):
                    await self.link.send("M27")

    def _on_sd(self, event: str, data: dict[str, Any]) -> None:
        job = self.jobs.active
        if job is None or job.file.origin != "sdcard":
            return
        if event == "progress":
            job.file_pos = int(data["pos"])
            if data.get("size"):
                job.file.size = int(data["size"])
        elif event == "done" and self._finisher is None:
            self._finisher = asyncio.create_task(self._done(job), name="printer-sd-done")

    async def _done(self, job: PrintJob) -> None:
        link = self.link
        try:
            if link.state is S.PRINTING:
                link.set_state(S.FINISHING)
            await self.jobs.printer.run_script("afterPrintDone")
            if link.state is S.FINISHING:
                link.set_state(S.OPERATIONAL)
        except PrinterLinkError as exc:
            self.jobs.finish(job, ERROR, exc)
            return
        finally:
            self._finisher = None
        self.jobs.finish(job, COMPLETE)

    async def pause(self, job: PrintJob) -> None:
        """`M25`; PAUSING → PAUSED."""
        link = self.link
        link.set_state(S.PAUSING)
        await link.send("M25")
        if link.state is S.PAUSING:
            link.set_state(S.PAUSED)

    async def resume(self, job: PrintJob, script: list[str]) -> None:
        """The resume script, then `M24`; RESUMING → PRINTING."""
        link = self.link
        link.set_state(S.RESUMING)
        await link.run_script([*script, "M24"])
        if link.state is S.RESUMING:
            link.set_state(S.PRINTING)

    async def cancel(self, job: PrintJob) -> None:
        """`M25`, rewind with `M26 S0`; CANCELLING → OPERATIONAL."""
        link = self.link
        link.set_state(S.CANCELLING)
        await link.run_script(["M25", "M26 S0"])
        if link.state is S.CANCELLING:
            link.set_state(S.OPERATIONAL)

    async def upload(self, local: Path, local_name: str, remote: str) -> float:
        """Write a host file's command lines to the SD card (`M28 … M29`); return seconds.

        Fires TransferStarted/TransferDone; the state is TRANSFERING_FILE meanwhile. Lines
        go numbered with checksums (the `checksum: always` default), several in flight.
        """
        link = self.link
        if not link.is_operational:
            raise ApiError("Printer not ready", 503)
        if link.state is not S.OPERATIONAL:
            raise ApiError("Printer is busy", 409)
        link.set_state(S.TRANSFERING_FILE)
        payload = {"local": local_name, "remote": remote}
        self.jobs._fire(Events.TRANSFER_STARTED, payload)
        started = time.monotonic()
        try:
            answer = await link.send(f"M28 {remote}")
            if not any(line.startswith("Writing to file") for line in answer):
                raise ApiError(f"The SD card refused {remote}: {' '.join(answer)}", 500)
            source = FileSource(local, [], lambda _offset, line: line)
            window: collections.deque[asyncio.Future[list[str]]] = collections.deque()
            async for line in source.lines():
                source.pending.clear()
                window.append(link.send(line))
                if len(window) >= UPLOAD_WINDOW:
                    await window.popleft()
            while window:
                await window.popleft()
            await link.send("M29")
        except PrinterLinkError as exc:
            raise ApiError(f"Transfer to the SD card failed: {exc}", 500) from None
        finally:
            if link.state is S.TRANSFERING_FILE:
                link.set_state(S.OPERATIONAL)
        elapsed = time.monotonic() - started
        self.jobs._fire(Events.TRANSFER_DONE, {**payload, "time": round(elapsed, 3)})
        return elapsed

    async def close(self) -> None:
        """Stop polling."""
        await cancel_and_wait(self._poller, self._finisher)
