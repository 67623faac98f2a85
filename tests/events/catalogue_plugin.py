"""A data-folder plugin for the catalogue test: a slicer (Slicing* events) with settings
(SettingsUpdated). Copied into `<data>/plugins/`; models are text files."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from moonlite.plugins import SettingsPlugin, SlicerPlugin, SlicingCancelled


class CatalogueSlicer(SlicerPlugin, SettingsPlugin):
    """A model saying "fail" fails; one saying "slow" waits until it is cancelled."""

    def __init__(self) -> None:
        self._cancel: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def get_settings_defaults(self) -> dict[str, Any]:
        """One setting to change over the API."""
        return {"greeting": "hello"}

    def is_slicer_configured(self) -> bool:
        """Always ready."""
        return True

    def get_slicer_properties(self) -> dict[str, Any]:
        """The slicer's type is what the API calls it by."""
        return {"type": "catalogue", "name": "Catalogue slicer", "same_device": True,
                "progress_report": False, "source_file_types": ["stl"],
                "destination_extensions": ["gcode"]}

    def do_slice(self, model_path: str, printer_profile: dict[str, Any],
                 machinecode_path: str | None = None, profile_path: str | None = None,
                 position: dict[str, float] | None = None, on_progress: Any = None,
                 on_progress_args: Any = None, on_progress_kwargs: Any = None
                 ) -> tuple[bool, Any]:
        """Runs in a worker thread."""
        destination = machinecode_path or str(Path(model_path).with_suffix(".gcode"))
        cancel = threading.Event()
        with self._lock:
            self._cancel[destination] = cancel
        try:
            model = Path(model_path).read_text()
            if "slow" in model:
                # raises when a cancel came before the event above was registered
                if on_progress is not None:
                    on_progress(*(on_progress_args or ()), _progress=0.0,
                                **(on_progress_kwargs or {}))
                cancel.wait(30)
            if cancel.is_set():
                raise SlicingCancelled()
            if "fail" in model:
                return False, "the model asked to fail"
            Path(destination).write_text("G28\nG1 Z0.2 F3000\n")
            return True, {}
        finally:
            with self._lock:
                self._cancel.pop(destination, None)

    def cancel_slicing(self, machinecode_path: str) -> None:
        """Stop the job writing `machinecode_path`."""
        with self._lock:
            event = self._cancel.get(machinecode_path)
        if event is not None:
            event.set()


__plugin_name__ = "Catalogue slicer"
__plugin_version__ = "1.0.0"
__plugin_implementation__ = CatalogueSlicer()
