"""Host print jobs: stream a file from disk, progress by file position, pause/resume/cancel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moonlite.components.printer.errors import (
    FirmwareError,
    LinkLost,
    NotConnected,
)
from moonlite.components.printer.job_control import JobControl
from moonlite.components.printer.job_source import FileSource, LineFilter, apply_temperature_offset
from moonlite.components.printer.job_state import (
    CANCELLED,
    COMPLETE,
    ERROR,
    JobStatus,
    PrintJob,
    SelectedFile,
)
from moonlite.components.printer.sd_jobs import SdPrinting
from moonlite.components.printer.state import JOB_STATES, PrinterState
from moonlite.components.printer.stream import StreamJob
from moonlite.components.printer.tasks import cancel_and_wait

from moonlite.events import Events
from moonlite.rpc import ApiError

if TYPE_CHECKING:
    from moonlite.components.printer.component import PrinterComponent

log = logging.getLogger(__name__)
S = PrinterState
#: seconds between progress ticks while a job runs (listeners, plugins)
PROGRESS_INTERVAL = 0.5

JobListener = Callable[[str], None]


def failure_reason(exc: BaseException | None) -> str:
    """PrintFailed's `reason` (contracts.md) for the error that ended a job."""
    if isinstance(exc, FirmwareError):
        return "klippy_shutdown"
    if isinstance(exc, LinkLost | NotConnected):
        return "klippy_disconnect"
    return "error"


class JobManager(JobControl):
    """The job layer of the printer component (`printer.jobs`); see docs/printer-link.md."""

    def __init__(self, printer: PrinterComponent) -> None:
        self.printer = printer
        self.selected: SelectedFile | None = None
        #: the running job, or the last one (kept until the next starts, as print_stats does)
        self.job: PrintJob | None = None
        #: called with what happened: selected, deselected, started, paused, resumed, done,
        #: cancelled, failed, progress
        self.listeners: list[JobListener] = []
        self.sd = SdPrinting(self)
        self._stream: StreamJob | None = None
        #: each file line of a host print goes through these (see docs/printer-link.md)
        self.line_filters: list[LineFilter] = []
        self._source: FileSource | None = None
        self._finish_lines: list[str] = []
        self._acked = 0
        self._catch_up_due = False
        self._follower: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._last_percent = -1
        #: held while a job starts; and while a pause, resume or cancel runs
        self._lock = asyncio.Lock()
        self._control = asyncio.Lock()
        printer.link.listeners.line.append(self._on_line)

    # ------------------------------------------------------------------ state for others
    @property
    def active(self) -> PrintJob | None:
        """The running (printing or paused) job, if any."""
        job = self.job
        return job if job is not None and job.active else None

    def status(self) -> JobStatus:
        """A snapshot of the current (or last) job and the selection."""
        self._catch_up()
        return JobStatus.of(self.job, self.selected)

    def printing_path(self) -> Path | None:
        """Absolute path of the host file being printed or paused."""
        job = self.active
        return job.file.full_path if job is not None else None

    def _notify(self, what: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(what)
            except Exception:
                log.exception("job listener failed")

    def _fire(self, event: str, payload: dict[str, Any] | None = None) -> None:
        self.printer.host.events.fire(event, payload or {})

    # ------------------------------------------------------------------ selection
    async def select(self, path: str, sd: bool = False) -> SelectedFile:
        """Select a gcodes-relative file (or an SD card file name) for printing."""
        if self.active is not None:
            raise ApiError("Cannot select a file while a print is running", 409)
        if sd:
            selected = await self.sd.select(path)
        else:
            selected = await self._select_local(path)
        self.selected = selected
        self._fire(Events.FILE_SELECTED, {k: v for k, v in selected.payload().items()
                                          if k != "size"})
        self._notify("selected")
        return selected

    async def resolve_local(self, path: str) -> SelectedFile:
        """A gcodes-relative file as a `SelectedFile` (4xx outside the root, 404 missing)."""
        return await self._select_local(path)

    async def _select_local(self, path: str) -> SelectedFile:
        files = self.printer.host.get_component("file_manager")
        gcodes = Path(files.gcodes_root) if files is not None else self.printer.host.paths.gcodes
        rel = path.strip()
        if Path(rel).is_absolute() and Path(rel).resolve().is_relative_to(gcodes.resolve()):
            # OctoPrint accepts absolute paths inside the uploads folder
            rel = Path(rel).resolve().relative_to(gcodes.resolve()).as_posix()
        rel = rel.lstrip("/")
        if rel.startswith("gcodes/"):
            rel = rel[len("gcodes/"):]
        if files is not None:
            full = files.resolve("gcodes", rel)
            root = Path(files.gcodes_root)
        else:
            root = self.printer.host.paths.gcodes.resolve()
            full = (root / rel).resolve()
            if not full.is_relative_to(root):
                raise ApiError(f"Invalid path: {path}", 400)
        try:
            st = await asyncio.to_thread(full.stat)
        except OSError:
            raise ApiError(f"File not found: {rel}", 404) from None
        if not full.is_file():
            raise ApiError(f"Not a file: {rel}", 400)
        relative = full.relative_to(root.resolve()).as_posix() if full.is_relative_to(
            root.resolve()) else rel
        metadata = None
        if files is not None:
            with contextlib.suppress(Exception):
                metadata = await files.get_metadata(relative)
        return SelectedFile(relative, "local", st.st_size, full, st.st_mtime, metadata)

    def unselect(self) -> None:
        """Forget the selected file (not while it prints)."""
        if self.active is not None:
            raise ApiError("Cannot unselect the file of a running print", 409)
        if self.selected is not None:
            self.selected = None
            self._fire(Events.FILE_DESELECTED, {})
            self._notify("deselected")

    # ------------------------------------------------------------------ start
    def _check_ready(self, starting: bool = False) -> None:
        if not self.link.is_operational:
            raise ApiError("Printer not ready", 503)
        if self.active is not None or self.link.state in JOB_STATES or (
                self._lock.locked() and not starting):
            raise ApiError("Printer is busy", 409)

    async def start(self, path: str | None = None, source: str = "api",
                    sd: bool = False) -> PrintJob:
        """Start printing `path` (gcodes-relative; None: the selected file). 503/409/404."""
        self._check_ready()
        async with self._lock:
            if path is not None:
                await self.select(path, sd)
            selected = self.selected
            if selected is None:
                raise ApiError("No file selected", 400)
            self._check_ready(starting=True)
            job = PrintJob(selected, "sdcard" if selected.origin == "sdcard" else source)
            job.filament_start = self.printer.tracker.filament_used
            if selected.origin == "local":
                job.estimated_time = await self._estimated_time(selected.path)
                self._check_ready(starting=True)
            previous, self.job = self.job, job
            try:
                if selected.origin == "sdcard":
                    await self.sd.start(job)
                else:
                    self._start_stream(job)
            except BaseException:
                self.job = previous
                raise
            self._last_percent = -1
            self._fire(Events.PRINT_STARTED, {**selected.payload(), "job_source": job.source})
            self._notify("started")
            self._ticker = asyncio.create_task(self._tick(job), name="printer-job-progress")
            return job

    async def _estimated_time(self, rel: str) -> float | None:
        files = self.printer.host.get_component("file_manager")
        if files is None:
            return None
        try:
            metadata = await files.get_metadata(rel)
        except Exception:
            return None
        value = (metadata or {}).get("estimated_time")
        return float(value) if isinstance(value, int | float) and value > 0 else None

    def _start_stream(self, job: PrintJob) -> None:
        printer = self.printer
        context = printer.script_context()
        prelude = printer.scripts.render("beforePrintStarted", context)
        finish = printer.scripts.render("afterPrintDone", context)
        assert job.file.full_path is not None
        self._source = FileSource(job.file.full_path, prelude, self._transform)
        self._acked = 0
        try:
            stream = self.link.start_stream(self._source.lines(), finish)
        except NotConnected:
            raise ApiError("Printer not ready", 503) from None
        self._stream = stream
        self._finish_lines = finish
        self._follower = asyncio.create_task(self._follow(job, stream), name="printer-job")

    def _transform(self, offset: int, line: str) -> str | None:
        """A file line as it is sent: temperature offsets applied, then the line filters."""
        offsets = self.printer.temperature_offsets
        if offsets:
            line = apply_temperature_offset(line, offsets, self.printer.tracker.tool)
        for line_filter in self.line_filters:
            result = line_filter(offset, line)
            if result is None:
                return None
            line = result
        return line

    # ------------------------------------------------------------------ progress
    def _on_line(self, _line: str) -> None:
        # runs before the link handles the line (an ok): catch up right after it did
        if self._stream is not None and not self._catch_up_due:
            self._catch_up_due = True
            asyncio.get_running_loop().call_soon(self._catch_up)

    def _catch_up(self) -> None:
        """Account for the job lines the printer acknowledged since the last call."""
        self._catch_up_due = False
        stream = self._stream
        job = self.job
        if stream is None or job is None:
            return
        acked = stream.acked
        if self._acked >= acked:
            return
        if self._source is None:
            return
        pending = self._source.pending
        process = self.printer.tracker.process
        position = job.file_pos
        while self._acked < acked and pending:
            end, line = pending.popleft()
            self._acked += 1
            process(line)
            if end > position:
                position = end
        job.file_pos = position
        job.filament_used = self.printer.tracker.filament_used - job.filament_start

    async def _tick(self, job: PrintJob) -> None:
        """While `job` runs: report progress to listeners and plugins when it changes."""
        last = (-1, "")
        while job.active:
            self._catch_up()
            mark = (job.file_pos, job.state)
            if mark != last:
                last = mark
                self._notify("progress")
                self._report_progress(job)
            await asyncio.sleep(PROGRESS_INTERVAL)

    def _report_progress(self, job: PrintJob) -> None:
        percent = int(job.progress * 100)
        if percent == self._last_percent:
            return
        self._last_percent = percent
        plugins = self.printer.host.get_component("plugins")
        notify = getattr(plugins, "notify_print_progress", None)
        if notify is None:
            return
        try:
            notify(job.file.origin, job.file.path, float(percent))
        except Exception:
            log.exception("notify_print_progress failed")

    # ------------------------------------------------------------------ the end of a job
    async def _follow(self, job: PrintJob, stream: StreamJob) -> None:
        try:
            result = await stream.done
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._catch_up()
            self.finish(job, ERROR, exc)
            return
        self._catch_up()
        if result == "done":
            for line in self._finish_lines:
                self.printer.tracker.process(line)
            self.finish(job, COMPLETE)
        # "cancelled": `cancel` ends the job after its script

    def finish(self, job: PrintJob, state: str, exc: BaseException | None = None) -> None:
        """End `job` with `state` and fire its event (once)."""
        if job.ended is not None:
            return
        job.ended = time.monotonic()
        if job.paused_at is not None:
            job.paused_total += job.ended - job.paused_at
            job.paused_at = None
        job.state = state
        if job.file.origin == "local" and self.job is job:
            self._stream = None
        payload = {**job.file.payload(), **job.durations()}
        if state == COMPLETE:
            job.file_pos = job.file.size
            self._report_progress(job)
            self._fire(Events.PRINT_DONE, {**payload, "time": payload["print_duration"]})
            self._notify("done")
        elif state == CANCELLED:
            self._fire(Events.PRINT_CANCELLED, {**payload, "position": job.position})
            self._notify("cancelled")
        else:
            reason = failure_reason(exc)
            job.message = str(exc) if exc is not None else reason
            self._fire(Events.PRINT_FAILED, {**payload, "reason": reason,
                                             "time": payload["print_duration"],
                                             "error": job.message})
            self._notify("failed")

    def link_failed(self, message: str) -> None:
        """The link went down (or the firmware reset) while an SD job ran: it failed."""
        job = self.active
        if job is not None and job.file.origin == "sdcard":
            self.finish(job, ERROR, LinkLost(message))

    async def close(self) -> None:
        """Stop the background tasks (the link is going away)."""
        await cancel_and_wait(self._follower, self._ticker)

