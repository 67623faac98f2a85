"""Slicing through SlicerPlugins: the mixin, profiles, and jobs with progress, cancel, events."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moonlite.events import Events
from moonlite.plugins.core import MoonlitePlugin
from moonlite.rpc import ApiError

if TYPE_CHECKING:
    from moonlite.plugins.manager import PluginManager

log = logging.getLogger(__name__)

#: the printer profile handed to slicers while there is no printer profile manager
DEFAULT_PRINTER_PROFILE: dict[str, Any] = {
    "id": "_default", "name": "Default",
    "volume": {"width": 200.0, "depth": 200.0, "height": 200.0, "origin": "lowerleft",
               "formFactor": "rectangular"},
    "extruder": {"count": 1, "nozzleDiameter": 0.4},
}


class SlicingCancelled(Exception):
    """Raised by `do_slice` when its job was cancelled."""


@dataclass
class SlicingProfile:
    """A slicing profile of one slicer."""

    slicer: str
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    display_name: str | None = None
    description: str | None = None
    default: bool = False


ProgressCallback = Callable[..., None]


class SlicerPlugin(MoonlitePlugin):
    """A slicing engine. `do_slice` is a plain method that may block: moonlite runs it in a
    worker thread and passes an `on_progress` callback that is safe to call from there."""

    def is_slicer_configured(self) -> bool:
        """Whether the slicer can be used (binary found, credentials set, ...)."""
        return False

    def get_slicer_properties(self) -> dict[str, Any]:
        """type, name, same_device, progress_report, source_file_types,
        destination_extensions."""
        return {"type": self._identifier, "name": self._plugin_name or self._identifier,
                "same_device": True, "progress_report": False,
                "source_file_types": ["stl"], "destination_extensions": ["gcode"]}

    def get_slicer_extension_tree(self) -> dict[str, Any]:
        """File types the slicer accepts (default: STL models)."""
        return {"model": {"stl": ["stl"]}}

    def get_slicer_default_profile(self) -> SlicingProfile:
        """The profile used when none is given."""
        return SlicingProfile(self._identifier, "default", default=True)

    def get_slicer_profile(self, path: str) -> SlicingProfile:
        """The profile stored at `path`."""
        return SlicingProfile(self._identifier, Path(path).stem)

    def get_slicer_profiles(self, profile_path: str) -> dict[str, SlicingProfile]:
        """Every profile in `profile_path` (default: its `*.profile` files)."""
        folder = Path(profile_path)
        if not folder.is_dir():
            return {}
        return {p.stem: self.get_slicer_profile(str(p)) for p in sorted(folder.glob("*.profile"))}

    def get_slicer_profiles_lastmodified(self, profile_path: str) -> float | None:
        """When the profiles last changed."""
        folder = Path(profile_path)
        return folder.stat().st_mtime if folder.is_dir() else None

    def save_slicer_profile(self, path: str, profile: SlicingProfile,
                            allow_overwrite: bool = True,
                            overrides: dict[str, Any] | None = None) -> None:
        """Store `profile` at `path` (IOError when it exists and overwriting is refused)."""
        raise NotImplementedError("this slicer cannot save profiles")

    def do_slice(self, model_path: str, printer_profile: dict[str, Any],
                 machinecode_path: str | None = None, profile_path: str | None = None,
                 position: dict[str, float] | None = None,
                 on_progress: ProgressCallback | None = None,
                 on_progress_args: tuple[Any, ...] | None = None,
                 on_progress_kwargs: dict[str, Any] | None = None) -> tuple[bool, Any]:
        """Slice `model_path`; return (True, {"analysis": ...}) or (False, reason).

        Report progress with `on_progress(*args, **kwargs, _progress=fraction 0..1)`; raise
        `SlicingCancelled` when `cancel_slicing` stopped the job. moonlite's `on_progress`
        raises `SlicingCancelled` itself once the job is cancelled (let it propagate).
        """
        return False, "not implemented"

    def cancel_slicing(self, machinecode_path: str) -> None:
        """Stop the job that writes `machinecode_path`."""


@dataclass
class SlicingJob:
    """One running slicing job."""

    slicer: str
    source: str
    destination: str
    source_path: Path
    destination_path: Path
    started: float = field(default_factory=time.monotonic)
    cancelled: bool = False
    last_progress: int = -1
    task: asyncio.Task[dict[str, Any]] | None = None

    def payload(self) -> dict[str, Any]:
        """The common payload of the Slicing* events."""
        return {"stl": self.source, "stl_location": "local", "gcode": self.destination,
                "gcode_location": "local"}


class SlicingManager:
    """Runs slicing jobs on SlicerPlugins, one per destination file."""

    def __init__(self, plugins: PluginManager) -> None:
        self.plugins = plugins
        self.jobs: dict[Path, SlicingJob] = {}

    def slicers(self) -> dict[str, SlicerPlugin]:
        """Every SlicerPlugin by its slicer type."""
        found: dict[str, SlicerPlugin] = {}
        for plugin in self.plugins.implementations(SlicerPlugin):
            props = self.plugins.call_sync(plugin, "get_slicer_properties") or {}
            found[str(props.get("type") or plugin._identifier)] = plugin
        return found

    def describe(self) -> list[dict[str, Any]]:
        """Every slicer with its properties and whether it is configured."""
        out = []
        for slicer_type, plugin in self.slicers().items():
            props = self.plugins.call_sync(plugin, "get_slicer_properties") or {}
            configured = bool(self.plugins.call_sync(plugin, "is_slicer_configured"))
            out.append({"type": slicer_type, "plugin": plugin._identifier,
                        "configured": configured, "properties": props})
        return out

    @staticmethod
    def profiles_folder(plugin: SlicerPlugin) -> Path:
        """Where a slicer's profiles live: `<plugin data folder>/profiles`."""
        return Path(plugin.get_plugin_data_folder()) / "profiles"

    def profile_path(self, plugin: SlicerPlugin, name: str) -> Path:
        """The profile file `name` (with or without .ini/.profile) of a slicer (404 if none)."""
        folder = self.profiles_folder(plugin).resolve()
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ApiError(f"Invalid profile name: {name!r}", 400)
        for candidate in (name, f"{name}.ini", f"{name}.profile"):
            path = folder / candidate
            if path.is_file():
                return path
        raise ApiError(f"No profile {name} for slicer {plugin._identifier}", 404)

    def _resolve(self, relative: str) -> Path:
        files: Any = self.plugins.host.get_component("file_manager")
        if files is not None:
            # one set of path rules for the whole server (symlinks, NUL, overlong names, ...)
            path: Path = files.resolve("gcodes", relative)
            return path
        root = self.plugins.host.paths.gcodes.resolve()
        if not relative or Path(relative).is_absolute() or "\x00" in relative:
            raise ApiError(f"Invalid path: {relative!r}", 400)
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            raise ApiError(f"Path outside the gcodes folder: {relative}", 403)
        return path

    def _check_writable(self, destination_path: Path, destination: str) -> None:
        files = self.plugins.host.get_component("file_manager")
        check = getattr(files, "check_modifiable", None)
        if callable(check):
            check(destination_path, destination, "overwritten")

    async def slice(self, slicer: str, source: str, destination: str | None = None,
                    profile: str | None = None,
                    position: dict[str, float] | None = None) -> dict[str, Any]:
        """Slice `source` (relative to the gcodes folder) and wait for the result."""
        job = self.start(slicer, source, destination, profile, position)
        assert job.task is not None
        return await job.task

    def start(self, slicer: str, source: str, destination: str | None = None,
              profile: str | None = None,
              position: dict[str, float] | None = None) -> SlicingJob:
        """Start a slicing job (a running job on the same destination is cancelled)."""
        plugin = self.slicers().get(slicer)
        if plugin is None:
            raise ApiError(f"Unknown slicer: {slicer}", 404)
        if not self.plugins.call_sync(plugin, "is_slicer_configured"):
            raise ApiError(f"Slicer {slicer} is not configured or not installed", 409)
        source_path = self._resolve(source)
        if not source_path.is_file():
            raise ApiError(f"File not found: {source}", 404)
        destination = destination or str(Path(source).with_suffix(".gcode"))
        destination_path = self._resolve(destination)
        self._check_writable(destination_path, destination)
        previous = self.jobs.get(destination_path)
        if previous is not None:
            self.cancel(destination)
        profile_path = str(self.profile_path(plugin, profile)) if profile else None
        job = SlicingJob(slicer, source, destination, source_path, destination_path)
        self.jobs[destination_path] = job
        job.task = asyncio.get_running_loop().create_task(
            self._run(plugin, job, profile_path, position, previous.task if previous else None))
        return job

    def cancel(self, destination: str) -> bool:
        """Cancel the job writing `destination`; False when there is none."""
        job = self.jobs.get(self._resolve(destination))
        if job is None:
            return False
        job.cancelled = True
        plugin = self.slicers().get(job.slicer)
        if plugin is not None:
            self.plugins.call_sync(plugin, "cancel_slicing", str(job.destination_path))
        return True

    def _on_progress(self, job: SlicingJob, fraction: float) -> None:
        percent = max(0, min(100, int(float(fraction) * 100)))
        if percent == job.last_progress:
            return
        job.last_progress = percent
        self.plugins.host.notify("notify_slicing_progress", {
            "slicer": job.slicer, "source_path": job.source, "dest_path": job.destination,
            "progress": percent})
        self.plugins.notify_slicing_progress(job.slicer, "local", job.source, "local",
                                             job.destination, percent)

    async def _run(self, plugin: SlicerPlugin, job: SlicingJob, profile_path: str | None,
                   position: dict[str, float] | None,
                   previous: asyncio.Task[dict[str, Any]] | None) -> dict[str, Any]:
        if previous is not None:
            # the cancelled job still owns the destination file until it has stopped
            await asyncio.wait([previous])
        events = self.plugins.host.events
        props = self.plugins.call_sync(plugin, "get_slicer_properties") or {}
        events.fire(Events.SLICING_STARTED, {
            **job.payload(), "progressAvailable": bool(props.get("progress_report"))})
        loop = asyncio.get_running_loop()

        def progress(*_args: Any, _progress: float = 0.0, **_kwargs: Any) -> None:
            # a cancel that came before the plugin could track the job stops it here
            if job.cancelled:
                raise SlicingCancelled()
            loop.call_soon_threadsafe(self._on_progress, job, _progress)

        printer_profile = DEFAULT_PRINTER_PROFILE
        manager = plugin._printer_profile_manager
        if manager is not None and hasattr(manager, "get_current_or_default"):
            printer_profile = manager.get_current_or_default()
        result: dict[str, Any]
        try:
            if job.cancelled:
                raise SlicingCancelled()
            ok, detail = await asyncio.to_thread(
                plugin.do_slice, str(job.source_path), printer_profile,
                str(job.destination_path), profile_path, position, progress)
            if job.cancelled:
                raise SlicingCancelled()
        except SlicingCancelled:
            events.fire(Events.SLICING_CANCELLED, job.payload())
            result = {"state": "cancelled", **job.payload()}
        except Exception as exc:
            log.exception("slicer %s failed", job.slicer)
            events.fire(Events.SLICING_FAILED, {**job.payload(), "reason": str(exc)})
            result = {"state": "failed", "reason": str(exc), **job.payload()}
        else:
            if ok:
                elapsed = time.monotonic() - job.started
                events.fire(Events.SLICING_DONE, {**job.payload(), "time": elapsed})
                result = {"state": "done", "time": elapsed, **job.payload(),
                          "result": detail if isinstance(detail, dict) else {}}
            else:
                events.fire(Events.SLICING_FAILED, {**job.payload(), "reason": str(detail)})
                result = {"state": "failed", "reason": str(detail), **job.payload()}
        finally:
            if self.jobs.get(job.destination_path) is job:
                del self.jobs[job.destination_path]
        return result
