"""Pause, resume, cancel and hold of the running job (a mixin of `JobManager`)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from moonlite.components.printer import parser
from moonlite.components.printer.errors import PrinterLinkError
from moonlite.components.printer.job_state import CANCELLED, ERROR, PAUSED, PRINTING, PrintJob
from moonlite.components.printer.state import PrinterState

from moonlite.events import Events

if TYPE_CHECKING:
    from moonlite.components.printer.component import PrinterComponent
    from moonlite.components.printer.sd_jobs import SdPrinting
    from moonlite.components.printer.stream import StreamJob

S = PrinterState


class JobControl:
    """What a user (or the firmware, through host actions) does to a running job."""

    printer: PrinterComponent
    sd: SdPrinting
    _stream: StreamJob | None
    _control: asyncio.Lock

    @property
    def link(self) -> Any:
        """The protocol engine."""
        return self.printer.link

    @property
    def active(self) -> PrintJob | None:
        """The running job (implemented by `JobManager`)."""
        raise NotImplementedError

    def _catch_up(self) -> None:
        raise NotImplementedError

    def _fire(self, event: str, payload: dict[str, Any] | None = None) -> None:
        raise NotImplementedError

    def _notify(self, what: str) -> None:
        raise NotImplementedError

    def finish(self, job: PrintJob, state: str, exc: BaseException | None = None) -> None:
        """End `job` (implemented by `JobManager`)."""
        raise NotImplementedError

    async def position(self) -> dict[str, Any] | None:
        """Ask the firmware where the head is (M114) with the tracked tool and feedrate."""
        tracker = self.printer.tracker
        tracker.process("M114")
        try:
            lines = await self.link.send("M114")
        except PrinterLinkError:
            return None
        found: dict[str, float] | None = None
        for line in lines:
            found = parser.parse_position(line) or found
        if found is None:
            return None
        return {"x": found.get("x"), "y": found.get("y"), "z": found.get("z"),
                "e": found.get("e"), "t": tracker.tool, "f": tracker.feedrate}

    async def pause(self) -> bool:
        """Pause the running job (lines in flight finish, M114, pause script). False if idle."""
        job = self.active
        if job is None or job.state != PRINTING or self._control.locked():
            return False
        async with self._control:
            try:
                return await self._pause(job)
            except PrinterLinkError:
                return False  # the link went away: the job fails through its stream

    async def _pause(self, job: PrintJob) -> bool:
        job.busy = True
        try:
            if job.file.origin == "sdcard":
                await self.sd.pause(job)
            else:
                stream = self._stream
                assert stream is not None
                await stream.pause()
                self._catch_up()
            if self.link.state is not S.PAUSED:
                return False
            tracker = self.printer.tracker
            job.saved_modes = (tracker.relative_xyz, tracker.relative_e, tracker.feedrate)
            job.paused_at = time.monotonic()
            job.state = PAUSED
            job.position = await self.position()
            await self.printer.run_script("afterPrintPaused",
                                          {"pause_position": job.position})
        finally:
            job.busy = False
        if job.state == PAUSED:
            self._fire(Events.PRINT_PAUSED, {**job.file.payload(), "position": job.position})
            self._notify("paused")
        return True

    def restore_lines(self, job: PrintJob) -> list[str]:
        """G-code that puts the head back where the job paused, with its modes and feedrate."""
        pos = job.position or {}
        axes = self.printer.profiles.current["axes"]
        lines = ["G90"]
        x, y, z, e = (pos.get(a) for a in ("x", "y", "z", "e"))
        if x is not None and y is not None:
            lines.append(f"G1 X{x:.3f} Y{y:.3f} F{axes['x']['speed']:g}")
        if z is not None:
            lines.append(f"G1 Z{z:.3f} F{axes['z']['speed']:g}")
        if e is not None:
            lines.append(f"G92 E{e:.5f}")
        relative_xyz, relative_e, feedrate = job.saved_modes
        if relative_xyz:
            lines.append("G91")
            if not relative_e:
                lines.append("M82")
        elif relative_e:
            lines.append("M83")
        if feedrate is not None:
            lines.append(f"G1 F{feedrate:g}")
        return lines

    async def resume(self) -> bool:
        """Resume a paused job (resume script, head back, modes restored). False if not paused."""
        job = self.active
        if job is None or job.state != PAUSED or self._control.locked():
            return False
        async with self._control:
            try:
                return await self._resume(job)
            except PrinterLinkError:
                return False  # the link went away: the job fails through its stream

    async def _resume(self, job: PrintJob) -> bool:
        job.busy = True
        try:
            printer = self.printer
            lines = printer.scripts.render("beforePrintResumed", printer.script_context(
                {"pause_position": job.position}))
            if job.file.origin == "local":
                lines += self.restore_lines(job)
            for line in lines:
                printer.tracker.process(line)
            if job.paused_at is not None:
                job.paused_total += time.monotonic() - job.paused_at
                job.paused_at = None
            job.state = PRINTING
            if job.file.origin == "sdcard":
                await self.sd.resume(job, lines)
            else:
                stream = self._stream
                assert stream is not None
                await stream.resume(lines)
        finally:
            job.busy = False
        if job.state == PRINTING:
            self._fire(Events.PRINT_RESUMED, job.file.payload())
            self._notify("resumed")
        return True

    async def cancel(self) -> bool:
        """Cancel the running job: stop, M114, cancel script; PrintCancelled. False if idle."""
        job = self.active
        if job is None:
            return False
        # a pause or resume under way finishes first
        async with self._control:
            if not job.active:
                return False
            if job.file.origin == "local" and self.link.state is S.FINISHING:
                return False  # every line is done: the job ends by itself
            return await self._cancel(job)

    async def _cancel(self, job: PrintJob) -> bool:
        job.busy = True
        try:
            if job.file.origin == "sdcard":
                await self.sd.cancel(job)
            else:
                stream = self._stream
                assert stream is not None
                if self.link.firmware.has("EMERGENCY_PARSER"):
                    # a heat-up wait (M109/M190) in flight would hold the cancel for minutes;
                    # M108 ends it at once and is a no-op otherwise (OctoPrint does the same)
                    await self.link.send_emergency("M108")
                await stream.cancel()
                self._catch_up()
            job.position = await self.position() or job.position
            await self.printer.run_script("afterPrintCancelled",
                                          {"cancel_position": job.position})
        except PrinterLinkError as exc:
            self.finish(job, ERROR, exc)
            return True
        finally:
            job.busy = False
        self.finish(job, CANCELLED)
        return True

    # ------------------------------------------------------------------ on hold
    async def set_on_hold(self, value: bool) -> bool:
        """Hold (True) or release (False) the job's lines; scripts may run meanwhile."""
        stream = self._stream
        if stream is None or self.link.state is not S.PRINTING:
            return False
        stream.halted = value
        if value:
            await self.link.wait_drained()
        else:
            self.link.wake_sender()
        return True

