"""The job layer's data: a selected file, a print job and the snapshot other components read."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

#: `JobStatus.state` values (Klipper's print_stats states)
STANDBY, PRINTING, PAUSED, COMPLETE, CANCELLED, ERROR = (
    "standby", "printing", "paused", "complete", "cancelled", "error")


@dataclasses.dataclass
class SelectedFile:
    """A file chosen for printing: on the host (`local`) or on the printer's SD card."""

    #: path relative to the gcodes root (`local`) or the SD card's name for it (`sdcard`)
    path: str
    origin: str
    size: int
    #: absolute path on disk (`local` only)
    full_path: Path | None = None
    date: float | None = None
    #: the files component's metadata of a local file (None when unknown)
    metadata: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        """The file's name without folders."""
        return self.path.rsplit("/", 1)[-1]

    def payload(self) -> dict[str, Any]:
        """OctoPrint's file payload incl. the deprecated `file` and `filename` keys."""
        return {"name": self.name, "path": self.path, "origin": self.origin, "size": self.size,
                "file": str(self.full_path) if self.full_path is not None else self.path,
                "filename": self.name}


@dataclasses.dataclass
class PrintJob:
    """One print, from start to its end (done, cancelled or failed)."""

    file: SelectedFile
    source: str
    state: str = PRINTING
    started: float = dataclasses.field(default_factory=time.monotonic)
    started_wall: float = dataclasses.field(default_factory=time.time)
    file_pos: int = 0
    paused_total: float = 0.0
    paused_at: float | None = None
    ended: float | None = None
    filament_start: float = 0.0
    filament_used: float = 0.0
    #: where the head was when the job paused or was cancelled (M114 + tool and feedrate)
    position: dict[str, Any] | None = None
    #: the modes and feedrate in force when the job paused (restored on resume)
    saved_modes: tuple[bool, bool, float | None] = (False, False, None)
    estimated_time: float | None = None
    message: str = ""
    #: set while a pause/resume/cancel is in progress
    busy: bool = False

    def _now(self) -> float:
        return self.ended if self.ended is not None else time.monotonic()

    @property
    def total_duration(self) -> float:
        """Seconds since the start (until the end), pauses included."""
        return max(0.0, self._now() - self.started)

    @property
    def print_duration(self) -> float:
        """Seconds spent printing: the total without the pauses."""
        paused = self.paused_total
        if self.paused_at is not None:
            paused += self._now() - self.paused_at
        return max(0.0, self.total_duration - paused)

    @property
    def progress(self) -> float:
        """Fraction of the file acknowledged by the printer (0..1), by file position."""
        if self.file.size <= 0:
            return 0.0
        return min(1.0, self.file_pos / self.file.size)

    @property
    def time_left(self) -> float | None:
        """Estimated seconds left: the slicer's estimate early on, extrapolation later."""
        progress = self.progress
        elapsed = self.print_duration
        linear = elapsed * (1.0 - progress) / progress if progress > 0 else None
        if self.estimated_time is None:
            return linear
        estimate = max(0.0, self.estimated_time * (1.0 - progress))
        if linear is None or progress < 0.1:
            return estimate
        if progress >= 0.3:
            return linear
        weight = (progress - 0.1) / 0.2
        return estimate * (1.0 - weight) + linear * weight

    @property
    def active(self) -> bool:
        """Whether the job is still running (printing or paused)."""
        return self.state in (PRINTING, PAUSED)

    def durations(self) -> dict[str, float]:
        """The extra keys of PrintDone/PrintFailed/PrintCancelled (contracts.md)."""
        return {"print_duration": round(self.print_duration, 3),
                "total_duration": round(self.total_duration, 3),
                "filament_used": round(self.filament_used, 5)}


@dataclasses.dataclass(frozen=True)
class JobStatus:
    """What the job layer reports (e.g. for `print_stats`/`virtual_sdcard`); see the docs."""

    state: str
    filename: str
    origin: str
    full_path: Path | None
    file_position: int
    file_size: int
    progress: float
    print_duration: float
    total_duration: float
    filament_used: float
    time_left: float | None
    estimated_time: float | None
    message: str
    source: str
    position: dict[str, Any] | None

    @classmethod
    def of(cls, job: PrintJob | None, selected: SelectedFile | None) -> JobStatus:
        """The snapshot for `job` (the last one, if it ended) or the selection alone."""
        if job is None:
            file = selected
            return cls(STANDBY, file.path if file else "", file.origin if file else "",
                       file.full_path if file else None, 0, file.size if file else 0, 0.0,
                       0.0, 0.0, 0.0, None, None, "", "", None)
        return cls(job.state, job.file.path, job.file.origin, job.file.full_path, job.file_pos,
                   job.file.size, job.progress, job.print_duration, job.total_duration,
                   job.filament_used, job.time_left, job.estimated_time, job.message,
                   job.source, job.position)
