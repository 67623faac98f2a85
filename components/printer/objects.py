"""Klipper's printer objects for a Marlin printer, filled from the link, the sent G-code and jobs.

`ObjectTracker` owns the contents of the status model (`printer.status`): temperatures and
positions as the firmware reports them, modes/positions/fan/messages from the lines the host
sends (`move_tracking`), the job layer's state as `print_stats`/`virtual_sdcard`/…, and the
static objects (`configfile`, `gcode`, macros). Fast-changing values are published on a 4 Hz
tick, so a print streaming thousands of lines a second costs a few dict updates per tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psutil

from .configfile import MachineLimits, build_configfile, parse_m503
from .exclude_object import ExcludeObjects
from .heater_objects import HeaterObjects, extruder_name
from .job_objects import JobObjects
from .macros import MacroError, MacroSet
from .move_tracking import MoveState, words_params
from .status_model import StatusModel
from .tasks import cancel_and_wait

log = logging.getLogger(__name__)
#: seconds between publications of fast-changing values (Klipper's status cadence)
TICK = 0.25
READY_MESSAGE = "Printer is ready"
#: how long printer.info waits for the first M503 answer
SETTINGS_TIMEOUT = 3.0

WebhooksListener = Callable[[str, str], None]


class ObjectTracker:
    """Builds and updates every printer object of `printer` (the printer component)."""

    def __init__(self, printer: Any) -> None:
        self.printer = printer
        self.status: StatusModel = printer.status
        self.moves = MoveState()
        self.moves.extra["M486"] = self._m486
        self.exclude = ExcludeObjects()
        self.macros = MacroSet()
        self.m503: dict[str, dict[str, float]] = {}
        #: the raw M503 report (the analysis component reads the printer's limits from it)
        self.m503_lines: list[str] = []
        #: command name -> help text (the `gcode` object; filled by the command layer)
        self.gcode_help: dict[str, str] = {}
        #: internal queries in flight: their answers are not console output
        self.quiet = 0
        #: client commands in flight that asked for a report the firmware also sends unasked
        self.requested_reports = 0
        #: scripts running on behalf of clients (idle_timeout says "Printing" meanwhile)
        self.busy = 0
        #: called with (state, message) whenever `webhooks` changes
        self.webhooks_listeners: list[WebhooksListener] = []
        self.macro_errors: list[str] = []
        self._load_macros()
        tools, bed, chamber = self._hardware()
        self.tools = tools
        self.heaters = HeaterObjects(self.status, tools, bed, chamber)
        self.limits = MachineLimits(self.profile(), {})
        self._moves_version = -1
        #: print_stats, virtual_sdcard, idle_timeout, … from the job layer
        self.job = JobObjects(self)
        self._last_live: tuple[float, list[float]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._settings_asked = False
        self._settings_task: asyncio.Task[None] | None = None
        self._define_objects()
        self._wire()

    # ------------------------------------------------------------------ set-up
    def profile(self) -> dict[str, Any]:
        """The current printer profile; the virtual printer's geometry for the default one."""
        profiles = getattr(self.printer, "profiles", None)
        profile: dict[str, Any] = dict(getattr(profiles, "current", None) or {})
        options = getattr(self.printer, "virtual_options", None)
        if options is not None and profile.get("id", "_default") == "_default":
            width, depth, height = options.volume
            profile["volume"] = {**profile.get("volume", {}), "width": width, "depth": depth,
                                 "height": height, "origin": "lowerleft", "custom_box": False}
            profile["extruder"] = {**profile.get("extruder", {}), "count": options.tools}
            profile["heatedBed"] = options.bed
            profile["heatedChamber"] = options.chamber
        return profile

    def _hardware(self) -> tuple[int, bool, bool]:
        profile = self.profile()
        return (int(profile.get("extruder", {}).get("count", 1)),
                bool(profile.get("heatedBed", True)), bool(profile.get("heatedChamber", False)))

    def _load_macros(self) -> None:
        for section in self.printer.host.config.of_kind("gcode_macro"):
            try:
                self.macros.add(section.instance, dict(section.options))
            except MacroError as exc:
                self.macro_errors.append(str(exc))
                self.printer.host.warn(f"{section.where()}: {exc}")
        self.macros.add_defaults()

    def _define_objects(self) -> None:
        status = self.status
        status.define("webhooks", {"state": "startup", "state_message": "Printer is not ready"})
        status.define("print_stats", {
            "filename": "", "total_duration": 0.0, "print_duration": 0.0,
            "filament_used": 0.0, "state": "standby", "message": "",
            "info": {"total_layer": None, "current_layer": None}})
        status.define("virtual_sdcard", {"file_path": None, "progress": 0.0,
                                         "is_active": False, "file_position": 0,
                                         "file_size": 0})
        status.define("display_status", {"message": None, "progress": 0.0})
        status.define("pause_resume", {"is_paused": False})
        status.define("idle_timeout", {"state": "Idle", "printing_time": 0.0})
        status.define("toolhead", {
            "homed_axes": "", "print_time": 0.0, "stalls": 0, "estimated_print_time": 0.0,
            "extruder": "extruder", "position": [0.0, 0.0, 0.0, 0.0],
            **self.limits.toolhead()})
        status.define("gcode_move", self._gcode_move())
        status.define("motion_report", {
            "live_position": [0.0, 0.0, 0.0, 0.0], "live_velocity": 0.0,
            "live_extruder_velocity": 0.0,
            "steppers": ["extruder", "stepper_x", "stepper_y", "stepper_z"],
            "trapq": ["extruder", "toolhead"]})
        status.define("fan", {"speed": 0.0, "rpm": None})
        status.define("system_stats", {"sysload": 0.0, "cputime": 0.0, "memavail": 0})
        status.define("exclude_object", self.exclude.status(None))
        status.define("query_endstops", {"last_query": {}})
        status.define("stepper_enable", {"steppers": self._steppers()})
        status.define("mcu", {
            "mcu_version": "", "mcu_build_versions": "",
            "mcu_constants": {"MCU": "marlin"}, "last_stats": {}})
        self.publish_macros()
        self.publish_commands()
        self.publish_configfile()

    def _wire(self) -> None:
        listeners = self.printer.link.listeners
        listeners.temperature.append(self.heaters.report)
        listeners.position.append(self._on_position)
        listeners.state.append(self._on_link_state)
        listeners.connected.append(self._on_connected)
        listeners.error.append(self._on_error)
        listeners.line.append(self._on_line)
        tracker = getattr(self.printer, "tracker", None)
        if tracker is not None:
            # every line the host sends (commands, scripts, acknowledged job lines) goes
            # through the link's G-code tracker: follow it there, after it
            inner = tracker.process

            def process(line: str) -> None:
                inner(line)
                self.sent(line)

            tracker.process = process
        jobs = getattr(self.printer, "jobs", None)
        if jobs is not None:
            jobs.listeners.append(self._on_job)
            jobs.line_filters.append(self._job_line)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Publish fast-changing values every `TICK` seconds while open."""
        task = asyncio.create_task(self._tick_loop(), name="printer-objects")
        try:
            yield
        finally:
            await cancel_and_wait(task, *self._tasks)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tick_loop(self) -> None:
        ticks = 0
        while True:
            try:
                self.refresh()
                if ticks % 4 == 0:
                    self._system_stats()
            except Exception:
                log.exception("printer objects refresh failed")
            ticks += 1
            await asyncio.sleep(TICK)

    # ------------------------------------------------------------------ static objects
    def publish_configfile(self) -> None:
        """(Re)build `configfile` from the profile, M503 and the macros."""
        files = self.printer.host.get_component("file_manager")
        root = getattr(files, "gcodes_root", None) or self.printer.host.paths.gcodes
        port = str(getattr(self.printer.config, "port", "virtual"))
        macros = {macro.object_name: macro.settings() for macro in self.macros.macros.values()}
        self.status.define("configfile", build_configfile(
            self.profile(), self.m503, str(Path(root)), port, macros))

    def publish_macros(self) -> None:
        """One `gcode_macro NAME` object per macro (its variables)."""
        for macro in self.macros.macros.values():
            self.status.define(macro.object_name, dict(macro.variables))

    def publish_commands(self) -> None:
        """The `gcode` object: every command with its help."""
        self.status.define("gcode", {"commands": {
            name: {"help": text} for name, text in sorted(self.gcode_help.items())}})

    def macro_variables_changed(self, name: str) -> None:
        """A macro's variables changed (SET_GCODE_VARIABLE)."""
        macro = self.macros.get(name)
        if macro is not None:
            self.status.update(macro.object_name, dict(macro.variables))

    # ------------------------------------------------------------------ link listeners
    def _webhooks(self) -> tuple[str, str]:
        printer = self.printer
        state = printer.klippy_state
        link = printer.link
        if state == "ready":
            return state, READY_MESSAGE
        if state == "startup":
            return state, "Printer is not ready\nConnecting to the printer..."
        message = link.error or "Printer is not connected"
        return state, f"{message}\nUse FIRMWARE_RESTART to reconnect."

    def _steppers(self) -> dict[str, bool]:
        names = ["stepper_x", "stepper_y", "stepper_z",
                 *(extruder_name(tool) for tool in range(self.tools))]
        return dict.fromkeys(names, self.moves.motors_on)

    def _publish_mcu(self, firmware: Any) -> None:
        fields: dict[str, str] = dict(getattr(firmware, "fields", {}) or {})
        name = fields.get("FIRMWARE_NAME", "")
        self.status.update("mcu", {
            "mcu_version": name, "mcu_build_versions": fields.get("SOURCE_CODE_URL", ""),
            "mcu_constants": {"MCU": fields.get("MACHINE_TYPE", "marlin"),
                              "EXTRUDER_COUNT": fields.get("EXTRUDER_COUNT", "1"),
                              "UUID": fields.get("UUID", "")}})

    def _publish_webhooks(self) -> None:
        state, message = self._webhooks()
        old = self.status.get("webhooks", "state")
        self.status.update("webhooks", {"state": state, "state_message": message})
        if old != state:
            for listener in list(self.webhooks_listeners):
                try:
                    listener(state, message)
                except Exception:
                    log.exception("webhooks listener failed")

    def _on_link_state(self, _old: Any, _new: Any) -> None:
        self._publish_webhooks()

    def _on_error(self, _message: str, _fatal: bool) -> None:
        self._publish_webhooks()

    def _on_connected(self, firmware: Any) -> None:
        # a (re)connection resets the board (DTR, or it said `start`): modes and homing too
        self.moves.reset_machine()
        self.refresh()
        self._publish_webhooks()
        self._publish_mcu(firmware)
        self._settings_asked = False

    async def ask_settings(self, timeout: float = SETTINGS_TIMEOUT) -> None:
        """Ask M503 once per connection, when a client first looks (printer.info).

        Asked lazily rather than at connect so that a host without Moonraker clients sends
        the printer nothing it did not ask for; awaited (up to `timeout`) so that the
        client's next call, usually the subscription, already gets the final `configfile`.
        """
        if not self._settings_asked and self.printer.link.is_operational:
            self._settings_asked = True
            self._settings_task = asyncio.get_running_loop().create_task(
                self._query_settings())
            self._tasks.add(self._settings_task)
            self._settings_task.add_done_callback(self._tasks.discard)
        task = self._settings_task
        if task is not None and not task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout)

    async def _query_settings(self) -> None:
        """M503: motion limits for `toolhead` and `configfile`."""
        self.quiet += 1
        try:
            lines = await self.printer.link.send("M503")
        except Exception as exc:
            log.info("M503 failed: %s", exc)
            return
        finally:
            self.quiet -= 1
        self.m503_lines = list(lines)
        self.m503 = parse_m503(lines)
        self.limits = MachineLimits(self.profile(), self.m503)
        self.status.update("toolhead", self.limits.toolhead())
        self.publish_configfile()

    def _on_line(self, line: str) -> None:
        if "@:" in line:
            self.heaters.power_line(line)

    def _on_position(self, position: dict[str, float]) -> None:
        live = [position.get("x", 0.0), position.get("y", 0.0), position.get("z", 0.0),
                position.get("e", 0.0)]
        now = time.monotonic()
        velocity = extruder_velocity = 0.0
        if self._last_live is not None:
            then, last = self._last_live
            elapsed = now - then
            if elapsed > 0:
                velocity = math.dist(live[:3], last[:3]) / elapsed
                extruder_velocity = (live[3] - last[3]) / elapsed
        self._last_live = (now, live)
        self.status.update("motion_report", {
            "live_position": live, "live_velocity": round(velocity, 3),
            "live_extruder_velocity": round(extruder_velocity, 3)})

    # ------------------------------------------------------------------ sent lines
    def sent(self, line: str) -> None:
        """A line the host sent (or the printer acknowledged, for job lines)."""
        moves = self.moves
        moves.process(line)
        if self.job.awaiting_extrusion and moves.filament_used > 0:
            self.job.first_extrusion()

    def _job_line(self, end_offset: int, line: str) -> str | None:
        """A file line about to be streamed: Klipper-only commands are taken here (Marlin
        would not know them) and excluded objects are skipped."""
        first = line[0]
        if first in "EeSs":
            upper = line.upper()
            if upper.startswith("EXCLUDE_OBJECT"):
                return None
            if upper.startswith("SET_PRINT_STATS_INFO"):
                for word in upper.split()[1:]:
                    key, _, value = word.partition("=")
                    if key in ("TOTAL_LAYER", "CURRENT_LAYER") and value.isdigit():
                        self.job.layer_info[key.lower()] = int(value)
                return None
        return self.exclude.filter(end_offset, line)

    def _m486(self, words: list[str]) -> None:
        params = words_params(words[1:])
        if "P" in params:
            self.exclude.exclude(str(int(params["P"])))
        if "U" in params:
            index = int(params["U"])
            if 0 <= index < len(self.exclude.objects):
                self.exclude.include(self.exclude.objects[index].name)

    def _gcode_move(self) -> dict[str, Any]:
        moves = self.moves
        return {
            "speed_factor": moves.speed_factor, "speed": round(moves.feedrate / 60.0, 3),
            "extrude_factor": moves.extrude_factor,
            "absolute_coordinates": moves.absolute_coordinates,
            "absolute_extrude": moves.absolute_extrude,
            "homing_origin": list(moves.homing_origin),
            "position": [round(v, 4) + 0.0 for v in moves.position],
            "gcode_position": [round(v, 4) + 0.0 for v in moves.gcode_position],
        }

    def _publish_moves(self) -> None:
        moves = self.moves
        status = self.status
        status.update("gcode_move", self._gcode_move())
        status.update("toolhead", {"homed_axes": moves.homed_axes,
                                   "position": [round(v, 4) + 0.0 for v in moves.position],
                                   "extruder": extruder_name(moves.tool)})
        status.update("fan", {"speed": round(moves.fan_speed, 4)})
        status.update("stepper_enable", {"steppers": self._steppers()})
        status.update("display_status", {"message": moves.message or None})
        for name, target in moves.targets.items():
            self.heaters.set_target(name, target)
        moves.targets.clear()

    # ------------------------------------------------------------------ job layer
    def _on_job(self, what: str) -> None:
        if what == "started":
            self.moves.reset_job()
            self.exclude.clear()
            job = self.printer.jobs.job
            self.job.started(job)
            if job is not None and job.file.full_path is not None:
                self._spawn(self.job.load_file(job))
        self.refresh()

    def activity(self) -> None:
        """A client did something (idle_timeout goes from Idle to Ready)."""
        self.job.activity()

    # ------------------------------------------------------------------ ticks
    def refresh(self) -> None:
        """Publish what changed since the last tick (also called on job events)."""
        if self.moves.version != self._moves_version:
            self._moves_version = self.moves.version
            self._publish_moves()
        self.job.publish()

    def _system_stats(self) -> None:
        try:
            load = os.getloadavg()[0]
        except OSError:
            load = 0.0
        self.status.update("system_stats", {
            "sysload": round(load, 2), "cputime": round(time.process_time(), 3),
            "memavail": int(psutil.virtual_memory().available // 1024)})
