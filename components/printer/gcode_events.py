"""What the host sent, tracked line by line: modes, Z, E, feedrate, tool; G-code events fired."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from moonlite.events import Events

_CODE = re.compile(r"\s*([GMTgmt])(\d+)")
_PARAM = re.compile(r"([A-Za-z])\s*([-+]?(?:\d+\.?\d*|\.\d+))")

#: commands that fire an event without a payload (seed 002, "GCODE processing")
SIMPLE_EVENTS: dict[str, str] = {
    "M80": Events.POWER_ON,
    "M81": Events.POWER_OFF,
    "G28": Events.HOME,
    "G4": Events.DWELL,
    "M0": Events.WAITING,
    "M1": Events.WAITING,
    "M226": Events.WAITING,
    "M245": Events.COOLING,
    "M300": Events.ALERT,
    "M240": Events.CONVEYOR,
    "M40": Events.EJECT,
    "M112": Events.E_STOP,
}

Fire = Callable[[str, dict[str, Any] | None], None]


def parse_params(text: str) -> dict[str, float]:
    """The numeric `X10 Y-2.5 F3000` parameters of a command (letters upper-cased)."""
    return {letter.upper(): float(value) for letter, value in _PARAM.findall(text)}


class GcodeTracker:
    """Follows the commands the host sends (jobs, scripts, API) as Marlin would interpret them.

    Marlin's rules: `G90`/`G91` switch X, Y, Z *and* E between absolute and relative, `M82`/
    `M83` switch E alone, `G92` sets logical positions without moving. `filament_used` is the
    net extrusion (retractions subtract, as Klipper's `print_stats.filament_used`).
    """

    def __init__(self, fire: Fire) -> None:
        self._fire = fire
        self.relative_xyz = False
        self.relative_e = False
        self.x: float | None = None
        self.y: float | None = None
        self.z: float | None = None
        #: logical E position (what `G92 E` sets and absolute `E` values refer to)
        self.e = 0.0
        self.feedrate: float | None = None
        self.tool = 0
        self.filament_used = 0.0
        #: M114 commands sent whose answer has not been seen yet
        self.position_requests = 0
        #: fan speeds sent with M106/M107 (0..255) and the last target temperatures sent
        self.fan_speed = 0.0
        self.targets: dict[str, float] = {}

    def process(self, line: str) -> None:
        """Account for one stripped command line that the printer acknowledged (or will get)."""
        match = _CODE.match(line)
        if match is None:
            return
        letter = match.group(1).upper()
        code = letter + str(int(match.group(2)))
        if letter == "G" and code in ("G0", "G1", "G2", "G3"):
            self._move(parse_params(line[match.end():]))
            return
        if letter == "T":
            self._tool_change(int(match.group(2)))
            return
        rest = line[match.end():]
        if code == "G90":
            self.relative_xyz = self.relative_e = False
        elif code == "G91":
            self.relative_xyz = self.relative_e = True
        elif code == "M82":
            self.relative_e = False
        elif code == "M83":
            self.relative_e = True
        elif code == "G92":
            self._set_position(parse_params(rest))
        elif code == "G28":
            self._home(rest)
        elif code == "M114":
            self.position_requests += 1
        elif code in ("M104", "M109", "M140", "M190", "M141", "M191"):
            self._target(code, parse_params(rest))
        elif code == "M106":
            self.fan_speed = parse_params(rest).get("S", 255.0)
        elif code == "M107":
            self.fan_speed = 0.0
        event = SIMPLE_EVENTS.get(code)
        if event is not None:
            self._fire(event, None)

    def _move(self, params: dict[str, float]) -> None:
        if not params:
            return
        rel = self.relative_xyz
        if "F" in params:
            self.feedrate = params["F"]
        if "X" in params:
            self.x = (self.x or 0.0) + params["X"] if rel else params["X"]
        if "Y" in params:
            self.y = (self.y or 0.0) + params["Y"] if rel else params["Y"]
        if "Z" in params:
            old = self.z
            new = (old or 0.0) + params["Z"] if rel else params["Z"]
            if new != old:
                self.z = new
                self._fire(Events.Z_CHANGE, {"new": new, "old": old})
        if "E" in params:
            value = params["E"]
            delta = value if self.relative_e else value - self.e
            self.e += delta
            self.filament_used += delta

    def _set_position(self, params: dict[str, float]) -> None:
        if not params:
            self.x = self.y = self.z = 0.0
            self.e = 0.0
            return
        if "X" in params:
            self.x = params["X"]
        if "Y" in params:
            self.y = params["Y"]
        if "Z" in params:
            self.z = params["Z"]
        if "E" in params:
            self.e = params["E"]

    def _home(self, rest: str) -> None:
        axes = {c for c in rest.upper() if c in "XYZ"}
        if not axes:
            axes = {"X", "Y", "Z"}
        for axis in axes:
            setattr(self, axis.lower(), 0.0)
        if "F" in rest.upper():
            self.feedrate = parse_params(rest).get("F", self.feedrate)

    def _target(self, code: str, params: dict[str, float]) -> None:
        value = params.get("S", params.get("R"))
        if value is None:
            return
        if code in ("M140", "M190"):
            self.targets["bed"] = value
        elif code in ("M141", "M191"):
            self.targets["chamber"] = value
        else:
            tool = int(params.get("T", self.tool))
            self.targets[f"tool{tool}"] = value

    def _tool_change(self, new: int) -> None:
        old = self.tool
        self.tool = new
        self._fire(Events.TOOL_CHANGE, {"old": old, "new": new})

    def position_reported(self, position: dict[str, float]) -> None:
        """A position report arrived: fire `PositionUpdate` when it answers our M114."""
        if self.position_requests <= 0:
            return
        self.position_requests -= 1
        self._fire(Events.POSITION_UPDATE, {
            "x": position.get("x"), "y": position.get("y"), "z": position.get("z"),
            "e": position.get("e"), "t": self.tool, "f": self.feedrate,
        })
