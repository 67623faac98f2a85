"""`[analysis]`: Moonraker's time-analysis API served by moonlite's own estimator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import Field

from moonlite.component import Component
from moonlite.config import SectionModel
from moonlite.events import Events, on_event
from moonlite.rpc import ApiError, api

from .limits import (
    ConfigError,
    Limits,
    dump_limits,
    limits_from_config,
    load_config,
    parse_config,
)
from .marlin_settings import limits_from_m503
from .version import ESTIMATOR_VERSION
from .workers import WorkerError, WorkerPool

EXECUTABLE = "moonlite-estimator (built in)"
DEFAULT_CONFIG_NAME = "default_estimator_cfg.json"
CACHE_SIZE = 64


class AnalysisConfig(SectionModel):
    """The `[analysis]` section (Moonraker's options; the download ones are accepted, unused)."""

    platform: str = "auto"
    estimator_config: str | None = None
    auto_dump_default_config: bool = False
    estimator_timeout: float = Field(600.0, gt=0)
    enable_auto_analysis: bool = False
    enable_estimator_updates: bool = False
    workers: int = Field(1, ge=1, le=16)


def inside(root: Path, relative: str, what: str) -> Path:
    """`relative` resolved inside `root`; a 400 error for anything that escapes it."""
    if not relative or relative.startswith(("/", "\\")) or "\x00" in relative:
        raise ApiError(f"Invalid {what} path: {relative!r}", 400)
    base = root.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base) or target == base:
        raise ApiError(f"Invalid {what} path, outside its root: {relative!r}", 400)
    return target


class Analysis(Component):
    """Print-time estimates, post-processing and estimator configs for G-code files."""

    name = "analysis"
    Config = AnalysisConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool: WorkerPool | None = None
        self._cache: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._inflight: dict[tuple[Any, ...], asyncio.Future[Any]] = {}

    @property
    def default_config_path(self) -> Path:
        """Where `dump_config` writes the default config (Moonraker: next to the binary)."""
        return self.host.paths.data / "tools" / "analysis" / DEFAULT_CONFIG_NAME

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Dump the default config if asked; stop the worker processes on the way out."""
        if self.config.auto_dump_default_config and not self.default_config_path.exists():
            with contextlib.suppress(OSError):
                self._write_config(self.default_config_path, self._printer_limits())
        try:
            yield
        finally:
            if self._pool is not None:
                await self._pool.close()
                self._pool = None

    # -- helpers ----------------------------------------------------------------------------

    async def _run(self, job: dict[str, Any]) -> Any:
        """Run a job in a worker process (never on the event loop), errors as API errors."""
        if self._pool is None:
            self._pool = WorkerPool(self.config.workers)
        try:
            return await self._pool.run(job, self.config.estimator_timeout)
        except WorkerError as exc:
            raise ApiError(exc.message, exc.status) from None

    def _gcode_path(self, filename: str) -> Path:
        path = inside(self.host.paths.gcodes, filename, "filename")
        if not path.is_file():
            raise ApiError(f"File {filename} does not exist", 404)
        return path

    def _config_path(self, estimator_config: str | None) -> Path | None:
        """The explicit config of a request, else the section's, else None."""
        name = estimator_config or self.config.estimator_config
        if not name:
            return None
        path = inside(self.host.paths.config, name, "estimator_config")
        if not path.is_file():
            raise ApiError(f"Estimator config {name} does not exist", 404)
        return path

    def _fallback(self) -> str | dict[str, Any] | None:
        """The printer's own limits: the dumped default config, else what the printer knows."""
        path = self.default_config_path
        if path.is_file():
            return str(path)
        known = self._known_printer_limits()
        return dump_limits(known) if known is not None else None

    def _known_printer_limits(self) -> Limits | None:
        """The printer's limits when its link knows them.

        The printer component may offer `marlin_settings` (the lines of its `M503` report) or
        `estimator_limits()` (an estimator config dict); both are optional.
        """
        printer = self.host.get_component("printer")
        report = getattr(printer, "marlin_settings", None)
        if isinstance(report, list | tuple) and report:
            return limits_from_m503(str(line) for line in report)
        getter = getattr(printer, "estimator_limits", None)
        if callable(getter):
            with contextlib.suppress(Exception):
                data = getter()
                if isinstance(data, dict):
                    return limits_from_config(parse_config(data))
        return None

    def _printer_limits(self) -> Limits:
        """The printer's limits, else Marlin's defaults (what `dump_config` writes)."""
        known = self._known_printer_limits()
        return known if known is not None else Limits()

    @staticmethod
    def _write_config(path: Path, limits: Limits) -> dict[str, Any]:
        data = dump_limits(limits)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
        return data

    @staticmethod
    def _stamp(path: Path | None) -> tuple[Any, ...]:
        if path is None:
            return (None,)
        st = path.stat()
        return (str(path), st.st_size, st.st_mtime_ns)

    # -- API --------------------------------------------------------------------------------

    @api("server.analysis.status")
    async def status(self) -> dict[str, Any]:
        """The estimator's state (Moonraker's shape; the estimator is built in, always ready)."""
        configured = self.config.estimator_config
        if configured:
            path = self.host.paths.config / configured
        else:
            path = self.default_config_path
        exists = False
        if path.is_file():
            with contextlib.suppress(ConfigError):
                load_config(path)
                exists = True
        return {
            "estimator_executable": EXECUTABLE,
            "estimator_ready": True,
            "estimator_version": ESTIMATOR_VERSION,
            "estimator_config_exists": exists,
            "using_default_config": not configured,
        }

    @api("server.analysis.estimate", verb="POST")
    async def estimate(self, filename: str, estimator_config: str | None = None) -> dict[str, Any]:
        """Estimate a file's print time (filename relative to the gcodes root)."""
        path = self._gcode_path(filename)
        config_path = self._config_path(estimator_config)
        fallback = self._fallback() if config_path is None else None
        key = (*self._stamp(path), *self._stamp(config_path), json.dumps(fallback))
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        running = self._inflight.get(key)
        if running is None:  # the same estimate asked twice at once runs once
            job = {"job": "estimate", "path": str(path), "fallback": fallback,
                   "config": str(config_path) if config_path else None}
            running = self._inflight[key] = asyncio.ensure_future(self._run(job))
            running.add_done_callback(lambda _: self._inflight.pop(key, None))
        result: dict[str, Any] = await asyncio.shield(running)
        self._cache[key] = result
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    @api("server.analysis.process", verb="POST")
    async def process(
        self, filename: str, estimator_config: str | None = None, force: bool = False
    ) -> dict[str, Any]:
        """Rewrite the file's M73 lines and time comments to a new estimate, in place."""
        path = self._gcode_path(filename)
        files = self.host.get_component("file_manager")
        check_modifiable = getattr(files, "check_modifiable", None)
        if callable(check_modifiable):  # never rewrite the file being printed (403)
            check_modifiable(path, filename, "post-processed")
        config_path = self._config_path(estimator_config)
        fallback = self._fallback() if config_path is None else None
        result: dict[str, Any] = await self._run(
            {"job": "process", "path": str(path), "fallback": fallback, "force": force,
             "config": str(config_path) if config_path else None}
        )
        if not result.get("bypassed"):
            await self._refresh_metadata(filename)
        return result

    async def _refresh_metadata(self, filename: str) -> None:
        """Let the files component re-read the rewritten file's metadata (it changed)."""
        files = self.host.get_component("file_manager")
        refresh = getattr(files, "get_metadata", None)
        if callable(refresh):
            try:
                await refresh(filename)
            except Exception:  # the estimate is done; stale metadata is not worth failing for
                self.log.exception("metadata refresh of %s failed", filename)

    @api("server.analysis.dump_config", verb="POST")
    async def dump_config(self, dest_config: str | None = None) -> dict[str, Any]:
        """Write an estimator config made from the printer's limits."""
        limits = self._printer_limits()
        if dest_config:
            path = inside(self.host.paths.config, dest_config, "dest_config")
            root: str | None = "config"
            rel = path.relative_to(self.host.paths.config.resolve()).as_posix()
        else:
            path, root, rel = self.default_config_path, None, DEFAULT_CONFIG_NAME
        try:
            data = await self.host.run_in_thread(self._write_config, path, limits)
        except OSError as exc:
            raise ApiError(f"Cannot write {rel}: {exc.strerror}", 500) from None
        return {"dest_root": root, "dest_config_path": rel, "klipper_estimator_config": data}

    # -- automatic analysis -----------------------------------------------------------------

    @on_event(Events.FILE_ADDED)
    async def _on_file_added(self, event: str, payload: dict[str, Any]) -> None:
        if not self.config.enable_auto_analysis:
            return
        name = str(payload.get("path") or payload.get("name") or "")
        if payload.get("storage", "local") != "local" or not name.lower().endswith(
            (".gcode", ".g", ".gco")
        ):
            return
        with contextlib.suppress(ApiError):
            await self.process(name)


COMPONENT = Analysis
