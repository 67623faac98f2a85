"""What the host sent, as Klipper's gcode_move/toolhead/fan/display objects would see it.

Marlin does not report its modes, factors or homed axes, so they are tracked from the lines the
host sends (jobs, scripts, the console), in the order the printer acknowledged them. This runs
for every streamed line: it is plain attribute arithmetic, published to the status model on the
object tracker's refresh tick.
"""

from __future__ import annotations

from collections.abc import Callable

AXES = "XYZE"
#: fan speed commands give 0..255; Klipper reports 0..1
FAN_MAX = 255.0


def words_params(words: list[str]) -> dict[str, float]:
    """`["X10", "Y-2.5", "F3000"]` -> {"X": 10.0, "Y": -2.5, "F": 3000.0}; bad words skipped."""
    params: dict[str, float] = {}
    for word in words:
        if len(word) < 2:
            continue
        try:
            params[word[0].upper()] = float(word[1:])
        except ValueError:
            continue
    return params


class MoveState:
    """Modes, factors, positions, homed axes, fan, targets and display text from sent G-code.

    Positions follow Klipper's naming: `gcode_position` is in the coordinates the G-code uses
    (after `G92`), `position` is where the toolhead is commanded to (before `G92` offsets).
    """

    def __init__(self) -> None:
        self.absolute_coordinates = True
        self.absolute_extrude = True
        self.speed_factor = 1.0
        self.extrude_factor = 1.0
        #: F of the last move, mm/min
        self.feedrate = 1500.0
        self.gcode_position = [0.0, 0.0, 0.0, 0.0]
        #: G92 offsets: toolhead position = gcode position + base
        self.base = [0.0, 0.0, 0.0, 0.0]
        self.homing_origin = [0.0, 0.0, 0.0, 0.0]
        self.homed: set[str] = set()
        #: steppers enabled (moves and M17 enable them, M84/M18 without axes disable them)
        self.motors_on = False
        self.tool = 0
        self.fan_speed = 0.0
        #: targets sent: "extruder", "extruder1", "heater_bed", "chamber"
        self.targets: dict[str, float] = {}
        self.message = ""
        #: M73 P as 0..1 (None: never sent, display_status follows the file progress)
        self.m73_progress: float | None = None
        #: net extrusion in mm (retractions subtract), what print_stats.filament_used counts
        self.filament_used = 0.0
        #: Z of the last extruding move (for the current layer)
        self.extrude_z: float | None = None
        #: bumped on every change (the tracker publishes when it moved)
        self.version = 0
        #: commands that are not motion: code -> handler(params words)
        self.extra: dict[str, Callable[[list[str]], None]] = {}

    @property
    def position(self) -> list[float]:
        """The commanded toolhead position [x, y, z, e]."""
        return [g + b for g, b in zip(self.gcode_position, self.base, strict=True)]

    @property
    def homed_axes(self) -> str:
        """Homed axes in Klipper's form (`"xyz"`, `""`)."""
        return "".join(a.lower() for a in "XYZ" if a in self.homed)

    def process(self, line: str) -> None:
        """Account for one command line (comments already stripped)."""
        words = line.split()
        if not words:
            return
        code = words[0].upper()
        if code in ("G1", "G0"):
            self._move(words[1:])
        elif code in ("G2", "G3"):
            self._move([w for w in words[1:] if w[:1].upper() in "XYZEF"])
        else:
            self._other(code, words, line)

    def _move(self, words: list[str]) -> None:
        self.motors_on = True
        pos = self.gcode_position
        absolute = self.absolute_coordinates
        for word in words:
            letter = word[:1].upper()
            try:
                value = float(word[1:])
            except ValueError:
                continue
            if letter == "E":
                delta = value - pos[3] if self.absolute_extrude else value
                pos[3] += delta
                self.filament_used += delta
                if delta > 0:
                    self.extrude_z = pos[2]
            elif letter == "F":
                if value > 0:
                    self.feedrate = value
            elif letter and letter in "XYZ":
                index = "XYZ".index(letter)
                pos[index] = value if absolute else pos[index] + value
        self.version += 1

    def _other(self, code: str, words: list[str], line: str) -> None:
        if code == "G90":
            self.absolute_coordinates = self.absolute_extrude = True
        elif code == "G91":
            self.absolute_coordinates = self.absolute_extrude = False
        elif code == "M82":
            self.absolute_extrude = True
        elif code == "M83":
            self.absolute_extrude = False
        elif code == "G92":
            self._set_position(words_params(words[1:]))
        elif code == "G28":
            self._home(words[1:])
        elif code in ("M84", "M18", "M410"):
            self._unhome(words[1:], code == "M410")
            if code != "M410" and len(words) == 1:
                self.motors_on = False
        elif code == "M17":
            self.motors_on = True
        elif code == "M220":
            value = words_params(words[1:]).get("S")
            if value is not None and value > 0:
                self.speed_factor = value / 100.0
        elif code == "M221":
            value = words_params(words[1:]).get("S")
            if value is not None and value > 0:
                self.extrude_factor = value / 100.0
        elif code[0] == "T" and code[1:].isdigit():
            self.tool = int(code[1:])
        elif code == "M106":
            params = words_params(words[1:])
            if int(params.get("P", 0)) == 0:
                self.fan_speed = min(1.0, max(0.0, params.get("S", FAN_MAX) / FAN_MAX))
        elif code == "M107":
            if int(words_params(words[1:]).get("P", 0)) == 0:
                self.fan_speed = 0.0
        elif code in ("M104", "M109", "M140", "M190", "M141", "M191"):
            self._target(code, words_params(words[1:]))
        elif code == "M117":
            self.message = line.split(None, 1)[1].strip() if len(words) > 1 else ""
        elif code == "M73":
            value = words_params(words[1:]).get("P")
            if value is not None:
                self.m73_progress = min(1.0, max(0.0, value / 100.0))
        else:
            handler = self.extra.get(code)
            if handler is None:
                return
            handler(words)
        self.version += 1

    def _set_position(self, params: dict[str, float]) -> None:
        pos = self.gcode_position
        if not params:
            params = dict.fromkeys(AXES, 0.0)
        for index, axis in enumerate(AXES):
            if axis in params:
                toolhead = pos[index] + self.base[index]
                pos[index] = params[axis]
                self.base[index] = toolhead - params[axis]

    def _home(self, words: list[str]) -> None:
        axes = [a for a in "XYZ" if any(w[:1].upper() == a for w in words)] or list("XYZ")
        for axis in axes:
            index = "XYZ".index(axis)
            self.homed.add(axis)
            self.motors_on = True
            self.base[index] = self.homing_origin[index]
            self.gcode_position[index] = -self.homing_origin[index]

    def _unhome(self, words: list[str], everything: bool) -> None:
        named = [a for a in "XYZ" if any(w[:1].upper() == a for w in words)]
        if everything or not words:
            self.homed.clear()
        else:
            self.homed.difference_update(named)

    def _target(self, code: str, params: dict[str, float]) -> None:
        value = params.get("S", params.get("R"))
        if value is None:
            return
        if code in ("M140", "M190"):
            self.targets["heater_bed"] = value
        elif code in ("M141", "M191"):
            self.targets["chamber"] = value
        else:
            tool = int(params.get("T", self.tool))
            self.targets["extruder" if tool == 0 else f"extruder{tool}"] = value

    def reset_machine(self) -> None:
        """The board (re)started: Marlin's power-on modes, nothing homed, fan off."""
        fresh = MoveState()
        for name in ("absolute_coordinates", "absolute_extrude", "speed_factor",
                     "extrude_factor", "gcode_position", "base", "homed", "tool",
                     "fan_speed", "message", "motors_on"):
            setattr(self, name, getattr(fresh, name))
        self.version += 1

    def reset_job(self) -> None:
        """A new job starts: filament and layer counting from zero, M73 forgotten."""
        self.filament_used = 0.0
        self.extrude_z = None
        self.m73_progress = None
        self.version += 1
