"""The job layer as Klipper objects: print_stats, virtual_sdcard, pause_resume, idle_timeout.

`print_stats.state` is the job layer's (`standby → printing → paused → complete | cancelled |
error`); durations are Klipper's: `print_duration` leaves out pauses and the time before the
first extrusion. Layers come from the file's metadata and the Z of the last extruding move,
unless the file or a client sets them with `SET_PRINT_STATS_INFO`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from .exclude_object import scan_file

if TYPE_CHECKING:
    from .objects import ObjectTracker

log = logging.getLogger(__name__)
#: idle_timeout's default (Klipper): "Ready" turns "Idle" after this long without activity
IDLE_TIMEOUT = 600.0
_ENDED_OR_RUNNING = ("printing", "paused", "complete", "cancelled", "error")


class JobObjects:
    """Publishes the job layer's state; `ObjectTracker.refresh` calls `publish` every tick."""

    def __init__(self, tracker: ObjectTracker) -> None:
        self.tracker = tracker
        self.status = tracker.status
        #: the current (or last) PrintJob of the job layer, once one started
        self.job: Any = None
        self.init_duration: float | None = None
        #: waiting for the job's first extrusion (to know where print_duration starts)
        self.awaiting_extrusion = False
        self.layers: tuple[int, float, float] | None = None
        #: layer numbers given by SET_PRINT_STATS_INFO (they win over the computed ones)
        self.layer_info: dict[str, int] = {}
        self.idle_state = "Idle"
        self.last_activity = time.monotonic()
        self.printing_since: float | None = None
        #: seconds without activity before "Ready" turns "Idle" (SET_IDLE_TIMEOUT)
        self.idle_timeout = IDLE_TIMEOUT

    def started(self, job: Any) -> None:
        """A job started: forget the last one's layers and durations."""
        self.job = job
        # an SD print's lines never pass the host: its durations are the job layer's
        sd = job is not None and job.file.origin == "sdcard"
        self.init_duration = 0.0 if sd else None
        self.awaiting_extrusion = not sd
        self.layers = None
        self.layer_info = {}

    def first_extrusion(self) -> None:
        """The job's first extruding line was acknowledged: print_duration starts here."""
        self.awaiting_extrusion = False
        job = self.job
        self.init_duration = float(job.print_duration) if job is not None else 0.0

    async def load_file(self, job: Any) -> None:
        """The labelled objects and layer geometry of a job's file."""
        tracker = self.tracker
        host = tracker.printer.host
        path = job.file.full_path
        try:
            objects = await host.run_in_thread(scan_file, path)
        except OSError as exc:
            log.info("cannot scan %s for objects: %s", path, exc)
            objects = []
        if self.job is job:
            tracker.exclude.load(objects)
        files = host.get_component("file_manager")
        metadata: dict[str, Any] | None = None
        if files is not None:
            with contextlib.suppress(Exception):
                metadata = await files.get_metadata(job.file.path)
        if metadata and self.job is job:
            total = metadata.get("layer_count")
            first = metadata.get("first_layer_height")
            height = metadata.get("layer_height")
            if isinstance(total, int) and isinstance(height, int | float) and height > 0:
                self.layers = (total, float(first or height), float(height))
        tracker.refresh()

    def current_layer(self) -> dict[str, Any]:
        """`print_stats.info`."""
        info: dict[str, Any] = {"total_layer": None, "current_layer": None}
        if self.layers is not None:
            total, first, height = self.layers
            z = self.tracker.moves.extrude_z
            layer = 0 if z is None else max(1, min(total, 1 + round((z - first) / height)))
            info = {"total_layer": total, "current_layer": layer}
        info.update(self.layer_info)
        return info

    def publish(self) -> None:
        """Update the job objects from the job layer's snapshot."""
        tracker = self.tracker
        jobs = getattr(tracker.printer, "jobs", None)
        if jobs is None:
            return
        st = jobs.status()
        state = st.state
        active = self.job is not None and state in _ENDED_OR_RUNNING
        if self.init_duration is not None:
            print_duration = max(0.0, st.print_duration - self.init_duration)
        else:
            print_duration = 0.0
        moves = tracker.moves
        status = self.status
        status.update("print_stats", {
            "filename": st.filename, "state": state, "message": st.message,
            "total_duration": round(st.total_duration, 3),
            "print_duration": round(print_duration, 3),
            "filament_used": round(max(moves.filament_used, st.filament_used), 4)
            if active else 0.0,
            "info": self.current_layer()})
        progress = round(st.progress, 4)
        status.update("virtual_sdcard", {
            "file_path": str(st.full_path) if st.full_path is not None else None,
            "progress": progress, "is_active": state == "printing",
            "file_position": st.file_position, "file_size": st.file_size})
        m73 = moves.m73_progress
        status.update("display_status", {"progress": m73 if m73 is not None else progress})
        status.update("pause_resume", {"is_paused": state == "paused"})
        status.update("exclude_object", tracker.exclude.status(
            st.file_position if state in ("printing", "paused") else None))
        self.publish_idle(state == "printing")

    def publish_idle(self, printing: bool) -> None:
        """`idle_timeout`: Printing while a job prints or a script runs, then Ready, then Idle."""
        now = time.monotonic()
        if printing or self.tracker.busy:
            if self.printing_since is None:
                self.printing_since = now
            self.last_activity = now
            state = "Printing"
        else:
            self.printing_since = None
            if self.idle_state == "Printing":
                state = "Ready"
            elif now - self.last_activity >= self.idle_timeout:
                state = "Idle"
            else:
                state = self.idle_state
        self.idle_state = state
        since = self.printing_since
        self.status.update("idle_timeout", {
            "state": state, "printing_time": round(now - since, 1) if since else 0.0})

    def activity(self) -> None:
        """A client did something (Idle becomes Ready)."""
        self.last_activity = time.monotonic()
        if self.idle_state == "Idle":
            self.idle_state = "Ready"
