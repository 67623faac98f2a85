"""OctoPrint's PrinterInterface (seed 001) as the async API of the printer component."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moonlite.components.printer.callbacks import CallbackHub
from moonlite.components.printer.errors import PrinterLinkError
from moonlite.components.printer.framing import strip_comment
from moonlite.components.printer.gcode_events import GcodeTracker
from moonlite.components.printer.interface_queries import PrinterQueries
from moonlite.components.printer.jobs import JobManager
from moonlite.components.printer.profiles import PrinterProfiles
from moonlite.components.printer.scripts import GcodeScripts
from moonlite.components.printer.sd_jobs import sd_name
from moonlite.components.printer.state import PrinterState

from moonlite.rpc import ApiError
from moonlite.transport.factory import BAUDRATES
from moonlite.transport.serial import list_serial_ports

if TYPE_CHECKING:
    from moonlite.components.printer.protocol import MarlinProtocol

S = PrinterState
GCODE_SUFFIXES = (".gcode", ".gco", ".g", ".gc")


class InvalidFileType(ApiError):
    """The file is not machine code (seed 001: `InvalidFileType`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 415)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, not {value!r}")
    return float(value)


def _fmt(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") or "0"


def _rate_percent(factor: Any, what: str) -> int:
    """A rate factor: a float fraction (1.0 = 100 %) or an int percentage."""
    value = _number(factor, what)
    percent = value * 100 if isinstance(factor, float) else value
    if not 1 <= percent <= 1000:
        raise ValueError(f"{what} out of range: {factor!r}")
    return round(percent)


class PrinterInterface(PrinterQueries):
    """The PrinterInterface methods (a mixin of the printer component; see docs).

    Methods that talk to the printer are coroutines; they return when the firmware
    acknowledged the commands. Invalid arguments raise `ValueError` with the reason.
    """

    valid_axes = ("x", "y", "z", "e")
    valid_heater_regex = re.compile(r"^(tool\d+|bed|chamber)$")
    valid_tool_regex = re.compile(r"^(tool\d+)$")

    host: Any
    config: Any
    link: MarlinProtocol
    tracker: GcodeTracker
    scripts: GcodeScripts
    profiles: PrinterProfiles
    jobs: JobManager
    callbacks: CallbackHub
    temperature_offsets: dict[str, float]
    _hold_lock: asyncio.Lock

    # -- implemented by the component
    def start_connecting(self, port: str | None = None, baudrate: int | None = None) -> None:
        """Connect in the background."""
        raise NotImplementedError

    async def disconnect(self) -> None:
        """Close the link."""
        raise NotImplementedError

    def current_connection_info(self) -> tuple[str | None, int | None]:
        """The port and baud rate of the current connection."""
        raise NotImplementedError

    # ------------------------------------------------------------------ connection
    async def connect(self, port: str | None = None, baudrate: int | None = None,
                      profile: str | None = None) -> None:
        """Connect (closing any current connection) with the port, baud rate and profile."""
        self.profiles.select(profile)
        if self.link.transport is not None:
            await self.disconnect()
        self.start_connecting(port, baudrate)

    def get_connection_options(self) -> dict[str, Any]:
        """Ports (real serial ports found now), baud rates and the configured preferences."""
        cfg = self.config
        ports = list_serial_ports()
        return {"ports": ports, "baudrates": list(BAUDRATES),
                "portPreference": cfg.port, "baudratePreference": cfg.baudrate or None,
                "autoconnect": cfg.auto_connect}

    def get_current_connection(self) -> tuple[str, str | None, int | None, dict[str, Any] | None]:
        """(state string, port, baud rate, profile), ("Closed", None, None, None) offline."""
        if not self.link.machine.is_connected:
            return ("Closed", None, None, None)
        port, baudrate = self.current_connection_info()
        return (self.get_state_string(), port, baudrate, self.profiles.current)

    def get_transport(self) -> Any:
        """The link's transport object while connected (None otherwise)."""
        return self.link.transport

    # ------------------------------------------------------------------ commands
    async def commands(self, commands: str | Iterable[str], tags: set[str] | None = None,
                       force: bool = False) -> list[str]:
        """Send one command or several in order; return their response lines once all are
        acknowledged. Commands go before the job's next lines while printing (`force` is
        accepted for compatibility: nothing waits for the job anyway). 503 when offline."""
        lines = [commands] if isinstance(commands, str) else list(commands)
        if not self.link.is_operational:
            raise ApiError("Printer not ready", 503)
        responses: list[str] = []
        for line in lines:
            text = strip_comment(line)
            if not text:
                continue
            self.callbacks.add_sent(text)
            self.tracker.process(text)
            code = text.split(None, 1)[0].upper()
            if code in ("M112", "M108", "M410"):
                await self.link.send_emergency(text)
                continue
            responses.extend(await self.link.send(text))
        return responses

    async def script(self, name: str, context: dict[str, Any] | None = None,
                     tags: set[str] | None = None) -> list[str]:
        """Render G-code script `name` (raises `UnknownScript`) and send it."""
        lines = self.scripts.render(name, self.script_context(context))
        return await self.commands(lines, tags)

    def script_context(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """What scripts see: printer_profile, last_position, last_temperature, last_fanspeed."""
        tracker = self.tracker
        temps = {key: value.get("target") for key, value in self.callbacks.temperatures.items()}
        temps.update(tracker.targets)
        return {
            "printer_profile": self.profiles.current,
            "last_position": {"x": tracker.x, "y": tracker.y, "z": tracker.z, "e": tracker.e,
                              "t": tracker.tool, "f": tracker.feedrate},
            "last_temperature": temps,
            "last_fanspeed": tracker.fan_speed,
            **(extra or {}),
        }

    async def run_script(self, name: str, extra: dict[str, Any] | None = None) -> list[str]:
        """Render `name` with the standard context plus `extra` and send it (jobs use it)."""
        lines = self.scripts.render(name, self.script_context(extra))
        for line in lines:
            self.tracker.process(line)
            self.callbacks.add_sent(line)
        return await self.link.run_script(lines)

    def fake_ack(self) -> None:
        """Take the oldest line in flight as acknowledged (a lost `ok`)."""
        self.link.fake_ack()

    def log_lines(self, *lines: str) -> None:
        """Add lines to the communication log."""
        for line in lines:
            self.callbacks.logs.append(line)
            self.callbacks._call("on_printer_add_log", line)

    # ------------------------------------------------------------------ movement
    async def jog(self, axes: dict[str, float], relative: bool = True,
                  speed: float | bool | None = None, tags: set[str] | None = None) -> None:
        """Move axes by (or to, `relative=False`) the given mm; speed None = profile minimum."""
        if not isinstance(axes, dict) or not axes:
            raise ValueError("axes must be a non-empty dict of axis -> distance")
        moves: list[str] = []
        speeds: list[float] = []
        profile_axes = self.profiles.current["axes"]
        for axis, value in axes.items():
            name = str(axis).lower()
            if name not in self.valid_axes:
                raise ValueError(f"Invalid axis {axis!r}: one of {', '.join(self.valid_axes)}")
            moves.append(f"{name.upper()}{_fmt(_number(value, f'distance of {name}'))}")
            speeds.append(float(profile_axes[name]["speed"]))
        move = "G1 " + " ".join(moves)
        if speed is None:
            move += f" F{_fmt(min(speeds))}"
        elif speed is not False:
            move += f" F{_fmt(_number(speed, 'speed'))}"
        restore = self._mode_lines()
        await self.commands(["G91" if relative else "G90", move, *restore], tags)

    def _mode_lines(self) -> list[str]:
        tracker = self.tracker
        lines = ["G91" if tracker.relative_xyz else "G90"]
        if tracker.relative_e != tracker.relative_xyz:
            lines.append("M83" if tracker.relative_e else "M82")
        return lines

    async def home(self, axes: str | Iterable[str], tags: set[str] | None = None) -> None:
        """Home the given axes (x, y, z, e)."""
        names = [axes] if isinstance(axes, str) else list(axes)
        if not names:
            raise ValueError("no axes to home")
        for axis in names:
            if str(axis).lower() not in self.valid_axes:
                raise ValueError(f"Invalid axis {axis!r}: one of {', '.join(self.valid_axes)}")
        await self.commands("G28 " + " ".join(f"{str(a).upper()}0" for a in names), tags)

    async def extrude(self, amount: float, speed: float | None = None,
                      tags: set[str] | None = None) -> None:
        """Extrude `amount` mm (negative retracts) at `speed` (None: the profile's E speed)."""
        value = _number(amount, "amount")
        feed = float(self.profiles.current["axes"]["e"]["speed"]) if speed is None \
            else _number(speed, "speed")
        restore = [] if self.tracker.relative_e else ["M82"]
        await self.commands(["M83", f"G1 E{_fmt(value)} F{_fmt(feed)}", *restore], tags)

    async def change_tool(self, tool: str, tags: set[str] | None = None) -> None:
        """Select `tool` (`tool0`, `tool1`, …), with the tool-change scripts around it."""
        if not isinstance(tool, str) or not self.valid_tool_regex.match(tool):
            raise ValueError(f"Invalid tool {tool!r}: expected tool<n>")
        index = int(tool[4:])
        if index >= self.profiles.current["extruder"]["count"]:
            raise ValueError(f"Invalid tool {tool!r}: the profile has "
                             f"{self.profiles.current['extruder']['count']} extruder(s)")
        context = {"tool": {"old": self.tracker.tool, "new": index}}
        before = self.scripts.render("beforeToolChange", self.script_context(context))
        after = self.scripts.render("afterToolChange", self.script_context(context))
        await self.commands([*before, f"T{index}", *after], tags)

    # ------------------------------------------------------------------ temperatures, rates
    def _heater(self, heater: str) -> str:
        if not isinstance(heater, str) or not self.valid_heater_regex.match(heater):
            raise ValueError(f"Invalid heater {heater!r}: expected tool<n>, bed or chamber")
        profile = self.profiles.current
        if heater.startswith("tool") and int(heater[4:]) >= profile["extruder"]["count"]:
            raise ValueError(f"Invalid heater {heater!r}: no such extruder in the profile")
        if heater == "bed" and not profile["heatedBed"]:
            raise ValueError("The printer profile has no heated bed")
        if heater == "chamber" and not profile["heatedChamber"]:
            raise ValueError("The printer profile has no heated chamber")
        return heater

    async def set_temperature(self, heater: str, value: float,
                              tags: set[str] | None = None) -> None:
        """Set the target temperature (°C) of `tool<n>`, `bed` or `chamber`."""
        heater = self._heater(heater)
        target = _number(value, "temperature")
        if target < 0:
            raise ValueError("temperature must not be negative")
        if heater == "bed":
            command = f"M140 S{_fmt(target)}"
        elif heater == "chamber":
            command = f"M141 S{_fmt(target)}"
        else:
            command = f"M104 T{heater[4:]} S{_fmt(target)}"
        await self.commands(command, tags)

    def set_temperature_offset(self, offsets: dict[str, float] | None = None,
                               tags: set[str] | None = None) -> None:
        """Offsets (°C) added to the targets the printed file sets, per heater."""
        checked: dict[str, float] = {}
        for heater, value in (offsets or {}).items():
            checked[self._heater(heater)] = _number(value, f"offset of {heater}")
        self.temperature_offsets.update(checked)
        self.callbacks.changed()

    async def feed_rate(self, factor: float, tags: set[str] | None = None) -> None:
        """Feed rate factor: a float fraction (1.0) or an int percentage (100) -> M220."""
        await self.commands(f"M220 S{_rate_percent(factor, 'feed rate')}", tags)

    async def flow_rate(self, factor: float, tags: set[str] | None = None) -> None:
        """Flow rate factor: a float fraction (1.0) or an int percentage (100) -> M221."""
        await self.commands(f"M221 S{_rate_percent(factor, 'flow rate')}", tags)

    # ------------------------------------------------------------------ files and jobs
    async def select_file(self, path: str, sd: bool = False, printAfterSelect: bool = False,
                          pos: int | None = None, tags: set[str] | None = None) -> None:
        """Select a gcodes-relative path (or an SD file name); optionally start printing."""
        if not sd and not path.lower().endswith(GCODE_SUFFIXES):
            raise InvalidFileType(f"Not a G-code file: {path}")
        await self.jobs.select(path, sd)
        if printAfterSelect:
            await self.jobs.start(None, "api")

    async def add_sd_file(self, path: str, remote: str | None = None) -> str:
        """Copy a gcodes-relative file to the printer's SD card (M28/M29); return its SD name.

        Fires TransferStarted and TransferDone; 503 offline, 409 while a job runs.
        """
        selected = await self.jobs.resolve_local(path)
        assert selected.full_path is not None
        name = remote or sd_name(selected.path)
        await self.jobs.sd.upload(selected.full_path, selected.path, name)
        return name

    def unselect_file(self) -> None:
        """Forget the selected file."""
        self.jobs.unselect()

    async def start_print(self, path: str | None = None, source: str = "api",
                          tags: set[str] | None = None) -> dict[str, Any]:
        """Start `path` (gcodes-relative; None: the selected file); 503 offline, 409 busy."""
        job = await self.jobs.start(path, source)
        return job.file.payload()

    async def pause_print(self, tags: set[str] | None = None) -> bool:
        """Pause the running print; False when there was none to pause."""
        return await self.jobs.pause()

    async def resume_print(self, tags: set[str] | None = None) -> bool:
        """Resume the paused print; False when nothing was paused."""
        return await self.jobs.resume()

    async def cancel_print(self, tags: set[str] | None = None) -> bool:
        """Cancel the running or paused print; False when there was none."""
        return await self.jobs.cancel()

    async def toggle_pause_print(self, tags: set[str] | None = None) -> bool:
        """Pause when printing, resume when paused."""
        if self.link.state is S.PAUSED:
            return await self.jobs.resume()
        return await self.jobs.pause()

    async def set_job_on_hold(self, value: bool, blocking: bool = True) -> bool:
        """Hold the job's lines (True) or release them (False); False when it could not."""
        if value:
            if not blocking and self._hold_lock.locked():
                return False
            await self._hold_lock.acquire()
            if not await self.jobs.set_on_hold(True):
                self._hold_lock.release()
                return False
            return True
        if not self._hold_lock.locked():
            return False
        await self.jobs.set_on_hold(False)
        self._hold_lock.release()
        return True

    @contextlib.asynccontextmanager
    async def job_on_hold(self, blocking: bool = True) -> AsyncIterator[None]:
        """`async with printer.job_on_hold(): ...` — no job lines go out meanwhile."""
        if not await self.set_job_on_hold(True, blocking):
            raise RuntimeError("Could not hold the job")
        try:
            yield
        finally:
            await self.set_job_on_hold(False)

    def can_modify_file(self, path: str, sd: bool) -> bool:
        """Whether `path` may be changed: anything but the file being printed."""
        return not (self.is_current_file(path, sd) and self.jobs.active is not None)

    def is_current_file(self, path: str, sd: bool) -> bool:
        """Whether `path` is the selected file."""
        selected = self.jobs.selected
        if selected is None or (selected.origin == "sdcard") != sd:
            return False
        if not sd and selected.full_path is not None and Path(path).is_absolute():
            return Path(path).resolve() == selected.full_path
        return selected.path == path.lstrip("/")

    # ------------------------------------------------------------------ callbacks
    def register_callback(self, callback: Any) -> None:
        """Register a `PrinterCallback` (it gets the initial data at once)."""
        self.callbacks.register(callback)

    def unregister_callback(self, callback: Any) -> None:
        """Unregister a `PrinterCallback`."""
        self.callbacks.unregister(callback)

    def send_initial_callback(self, callback: Any) -> None:
        """Send the initial data to `callback` again."""
        func = getattr(callback, "on_printer_send_initial_data", None)
        if func is not None:
            func(self.callbacks.initial_data())

    async def emergency_stop(self) -> None:
        """M112 past every queue (the link then closes with an error); fires EStop."""
        self.tracker.process("M112")  # fires EStop
        with contextlib.suppress(PrinterLinkError):
            await self.link.send_emergency("M112")
