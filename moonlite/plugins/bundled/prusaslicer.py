"""The PrusaSlicer slicer plugin: drives the `prusa-slicer` command line when it is installed."""

from __future__ import annotations

import collections
import re
import shlex
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from moonlite.plugins import SettingsPlugin, SlicerPlugin, SlicingCancelled, SlicingProfile
from moonlite.plugins.slicing import ProgressCallback

#: PrusaSlicer's command line prints its status as "<percent> => <what it does>"
PROGRESS_LINE = re.compile(r"^\s*(\d{1,3})\s*=>")


class PrusaSlicerPlugin(SlicerPlugin, SettingsPlugin):
    """Slices STL/3MF/OBJ models with `prusa-slicer --export-gcode`."""

    def __init__(self) -> None:
        self._running: dict[str, subprocess.Popen[str]] = {}
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()

    def get_settings_defaults(self) -> dict[str, Any]:
        """`executable`: the command (name on PATH or absolute path, optionally followed by
        arguments); `default_profile`:
        a PrusaSlicer .ini used when a job names none."""
        return {"executable": "prusa-slicer", "default_profile": None}

    def get_settings_restricted_paths(self) -> dict[str, list[list[str]]]:
        """The command and the default profile are what runs: only admins see or change
        them over the API (a plain logged-in user must not choose a program to execute)."""
        return {"admin": [["executable"], ["default_profile"]]}

    def executable(self) -> list[str] | None:
        """The PrusaSlicer command (resolved program plus any arguments the `executable`
        setting gives, e.g. "flatpak run com.prusa3d.PrusaSlicer"), or None when the program
        is not installed."""
        text = self._settings.get(["executable"]) if self._settings else None
        try:
            words = shlex.split(str(text or "prusa-slicer"))
        except ValueError:
            return None
        program = shutil.which(words[0]) if words else None
        return [program, *words[1:]] if program else None

    def is_slicer_configured(self) -> bool:
        """Configured when the executable is found."""
        return self.executable() is not None

    def get_slicer_properties(self) -> dict[str, Any]:
        """PrusaSlicer runs here and reports progress."""
        return {"type": "prusaslicer", "name": "PrusaSlicer", "same_device": True,
                "progress_report": True, "source_file_types": ["stl", "3mf", "obj"],
                "destination_extensions": ["gcode"]}

    def get_slicer_extension_tree(self) -> dict[str, Any]:
        """STL, 3MF and OBJ models."""
        return {"model": {"stl": ["stl"], "3mf": ["3mf"], "obj": ["obj"]}}

    def get_slicer_profile(self, path: str) -> SlicingProfile:
        """A PrusaSlicer .ini profile."""
        return SlicingProfile("prusaslicer", Path(path).stem, data={"path": path})

    def get_slicer_profiles(self, profile_path: str) -> dict[str, SlicingProfile]:
        """Every .ini in `profile_path`."""
        folder = Path(profile_path)
        if not folder.is_dir():
            return {}
        return {p.stem: self.get_slicer_profile(str(p)) for p in sorted(folder.glob("*.ini"))}

    def command(self, model_path: str, machinecode_path: str, profile_path: str | None,
                position: dict[str, float] | None) -> list[str]:
        """The command line of one job."""
        executable = self.executable()
        if executable is None:
            raise FileNotFoundError("prusa-slicer is not installed")
        cmd = [*executable, "--export-gcode", "--output", machinecode_path]
        profile = profile_path or (self._settings.get(["default_profile"])
                                   if self._settings else None)
        if profile:
            cmd += ["--load", str(profile)]
        if position:
            cmd += ["--center", f"{float(position['x'])},{float(position['y'])}"]
        return [*cmd, model_path]

    def do_slice(self, model_path: str, printer_profile: dict[str, Any],
                 machinecode_path: str | None = None, profile_path: str | None = None,
                 position: dict[str, float] | None = None,
                 on_progress: ProgressCallback | None = None,
                 on_progress_args: tuple[Any, ...] | None = None,
                 on_progress_kwargs: dict[str, Any] | None = None) -> tuple[bool, Any]:
        """Run PrusaSlicer, reading its status lines as progress (blocking: a worker thread)."""
        destination = machinecode_path or str(Path(model_path).with_suffix(".gcode"))
        cmd = self.command(model_path, destination, profile_path, position)
        args = on_progress_args or ()
        kwargs = dict(on_progress_kwargs or {})
        tail: collections.deque[str] = collections.deque(maxlen=20)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace")
        with self._lock:
            self._running[destination] = proc
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                tail.append(line.rstrip())
                match = PROGRESS_LINE.match(line)
                if match and on_progress is not None:
                    on_progress(*args, **{**kwargs, "_progress": int(match.group(1)) / 100})
            returncode = proc.wait()
        except BaseException:
            proc.kill()  # cancelled through on_progress, or the reader failed
            proc.wait()
            Path(destination).unlink(missing_ok=True)
            raise
        finally:
            with self._lock:
                self._running.pop(destination, None)
                cancelled = destination in self._cancelled
                self._cancelled.discard(destination)
        if cancelled:
            Path(destination).unlink(missing_ok=True)
            raise SlicingCancelled()
        if returncode != 0:
            return False, f"prusa-slicer exited with {returncode}: " + " | ".join(tail)
        if on_progress is not None:
            on_progress(*args, **{**kwargs, "_progress": 1.0})
        return True, {"analysis": {}}

    def cancel_slicing(self, machinecode_path: str) -> None:
        """Terminate the PrusaSlicer process writing `machinecode_path`."""
        with self._lock:
            proc = self._running.get(machinecode_path)
            if proc is not None:
                self._cancelled.add(machinecode_path)
                proc.terminate()


__plugin_name__ = "PrusaSlicer"
__plugin_version__ = "1.0.0"
__plugin_description__ = "Slicing with the PrusaSlicer command line (when installed)"
__plugin_implementation__ = PrusaSlicerPlugin()
