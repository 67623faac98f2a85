"""The PrinterInterface's state and data getters (seed 001), a mixin of the interface."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moonlite.components.printer.callbacks import CallbackHub
from moonlite.components.printer.gcode_events import GcodeTracker
from moonlite.components.printer.state import JOB_STATES, PrinterState

if TYPE_CHECKING:
    from moonlite.components.printer.jobs import JobManager
    from moonlite.components.printer.protocol import MarlinProtocol

S = PrinterState


class PrinterQueries:
    """`get_state_id`, the `is_*` family, `get_current_data/job/temperatures`, history."""

    link: MarlinProtocol
    tracker: GcodeTracker
    jobs: JobManager
    callbacks: CallbackHub
    temperature_offsets: dict[str, float]

    def get_state_id(self) -> str:
        """OctoPrint's id of the communication state (`OPERATIONAL`, `PRINTING`, …)."""
        return self.link.machine.get_state_id()

    def get_state_string(self) -> str:
        """The human-readable communication state."""
        return self.link.machine.get_state_string()

    def is_closed_or_error(self) -> bool:
        """Disconnected or in an error state."""
        return self.link.state in (S.CLOSED, S.CLOSED_WITH_ERROR, S.ERROR, S.OFFLINE, S.NONE)

    def is_operational(self) -> bool:
        """Connected and past the handshake."""
        return self.link.is_operational

    def is_printing_state(self) -> bool:
        """OctoPrint's `is_printing`: the state is PRINTING (see `is_printing`)."""
        return self.link.state in (S.PRINTING, S.STARTING, S.FINISHING)

    def is_cancelling(self) -> bool:
        """A cancel is under way."""
        return self.link.state is S.CANCELLING

    def is_pausing(self) -> bool:
        """A pause is under way."""
        return self.link.state is S.PAUSING

    def is_resuming(self) -> bool:
        """A resume is under way."""
        return self.link.state is S.RESUMING

    def is_finishing(self) -> bool:
        """The job's last lines are done and its end script runs."""
        return self.link.state is S.FINISHING

    def is_error(self) -> bool:
        """In an error state."""
        return self.link.state in (S.ERROR, S.CLOSED_WITH_ERROR)

    def is_ready(self) -> bool:
        """Operational and not running a job."""
        return self.link.is_operational and self.link.state not in JOB_STATES

    def is_sd_ready(self) -> bool:
        """The firmware reported an SD card that the host may use."""
        return self.link.is_operational and self.link.firmware.has("SDCARD")

    # ------------------------------------------------------------------ data
    def get_current_job(self) -> dict[str, Any]:
        """The selected/printing file with its estimates (OctoPrint's job dict)."""
        status = self.jobs.status()
        selected = self.jobs.selected
        job = self.jobs.job
        file = job.file if job is not None and job.active else selected
        metadata = (file.metadata if file is not None else None) or {}
        return {
            "file": {"name": file.name if file else None, "path": file.path if file else None,
                     "size": file.size if file else None,
                     "origin": file.origin if file else None,
                     "date": int(file.date) if file and file.date else None},
            "estimatedPrintTime": status.estimated_time or metadata.get("estimated_time"),
            "lastPrintTime": None,
            "filament": {"length": metadata.get("filament_total"), "volume": None},
            "user": None,
        }

    def get_current_progress(self) -> dict[str, Any]:
        """Completion (%), file position, print time and time left."""
        status = self.jobs.status()
        active = self.jobs.active is not None
        return {
            "completion": status.progress * 100 if active or status.state != "standby" else None,
            "filepos": status.file_position if status.state != "standby" else None,
            "printTime": round(status.print_duration) if status.state != "standby" else None,
            "printTimeLeft": round(status.time_left) if active and status.time_left is not None
            else None,
            "printTimeLeftOrigin": "linear" if active else None,
        }

    def get_state_flags(self) -> dict[str, bool]:
        """The state flags of `get_current_data`."""
        return {
            "operational": self.is_operational(), "printing": self.is_printing_state(),
            "cancelling": self.is_cancelling(), "pausing": self.is_pausing(),
            "resuming": self.is_resuming(), "finishing": self.is_finishing(),
            "closedOrError": self.is_closed_or_error(), "error": self.is_error(),
            "paused": self.link.state is S.PAUSED, "ready": self.is_ready(),
            "sdReady": self.is_sd_ready(),
        }

    def get_current_data(self) -> dict[str, Any]:
        """State, job, progress, current Z and temperature offsets (PrinterCallback data)."""
        error = self.link.error if self.is_error() else None
        return {
            "state": {"text": self.get_state_string(), "flags": self.get_state_flags(),
                      "error": error or ""},
            "job": self.get_current_job(),
            "progress": self.get_current_progress(),
            "currentZ": self.tracker.z,
            "offsets": dict(self.temperature_offsets),
        }

    def get_current_temperatures(self) -> dict[str, Any]:
        """{tool0: {actual, target, offset}, bed: …} from the last reports."""
        return {key: {**value, "offset": self.temperature_offsets.get(key, 0.0)}
                for key, value in self.callbacks.temperatures.items()}

    def get_temperature_history(self) -> list[dict[str, Any]]:
        """The recent temperature reports, oldest first ({time, tool0: {actual, target}, …})."""
        return list(self.callbacks.temperature_history)

