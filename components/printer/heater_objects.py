"""Temperature reports -> Klipper's extruder/heater_bed/heater_generic/temperature_sensor objects.

Marlin names sensors by letter: `T`/`T0…` hotends, `B` bed, `C` chamber, `A` ambient (probe
boards), `P` PINDA, and others. Heaters are the hotends, the bed and a chamber that has a
target; every other sensor is a `temperature_sensor`. Powers come from `@:` (0..127 as Marlin
prints them, `B@:`, `C@:`, `@0:` …).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from .status_model import StatusModel

_POWER = re.compile(r"(?:^|\s)([BC]?)@(\d*):\s*(\d+)")
#: Marlin prints heater power as PWM / 2
POWER_MAX = 127.0
#: Klipper's default `min_extrude_temp`
MIN_EXTRUDE_TEMP = 170.0
_NAMED_SENSORS = {"A": "ambient", "P": "pinda", "R": "redundant", "L": "board", "Q": "cooler"}


def extruder_name(tool: int) -> str:
    """Klipper's object name of hotend `tool`."""
    return "extruder" if tool == 0 else f"extruder{tool}"


class HeaterObjects:
    """Keeps the heater and sensor objects and the `heaters` lists up to date."""

    def __init__(self, status: StatusModel, tools: int, bed: bool, chamber: bool) -> None:
        self.status = status
        self.heaters: list[str] = []
        self.sensors: list[str] = []
        self.powers: dict[str, float] = {}
        #: report key (T0, B, C, A…) -> object name
        self.names: dict[str, str] = {}
        self.chamber_heated = chamber
        #: set on every temperature report (TEMPERATURE_WAIT waits on it)
        self.reported = asyncio.Event()
        for tool in range(tools):
            self._define(f"T{tool}", 0.0, 0.0)
        if bed:
            self._define("B", 0.0, 0.0)
        if chamber:
            self._define("C", 0.0, 0.0)
        self._publish_lists()

    def _object_name(self, key: str, target: float | None) -> str:
        if key[0] == "T" and key[1:].isdigit():
            return extruder_name(int(key[1:]))
        if key == "B":
            return "heater_bed"
        if key == "C":
            heated = self.chamber_heated or (target is not None and target > 0)
            return "heater_generic chamber" if heated else "temperature_sensor chamber"
        return f"temperature_sensor {_NAMED_SENSORS.get(key, key.lower())}"

    def _define(self, key: str, actual: float, target: float | None) -> str:
        name = self._object_name(key, target)
        self.names[key] = name
        if name.startswith("temperature_sensor"):
            self.status.define(name, {"temperature": actual, "measured_min_temp": actual,
                                      "measured_max_temp": actual})
        elif name.startswith("extruder"):
            self.status.define(name, {
                "temperature": actual, "target": target or 0.0, "power": 0.0,
                "can_extrude": actual >= MIN_EXTRUDE_TEMP, "pressure_advance": 0.0,
                "smooth_time": 0.04, "motion_queue": None})
            self.heaters.append(name)
        else:
            self.status.define(name, {"temperature": actual, "target": target or 0.0,
                                      "power": 0.0})
            self.heaters.append(name)
        self.sensors.append(name)
        return name

    def _publish_lists(self) -> None:
        self.status.define("heaters", {"available_heaters": list(self.heaters),
                                       "available_sensors": list(self.sensors),
                                       "available_monitors": []})

    def power_line(self, line: str) -> None:
        """Take the `@:` powers of a temperature line (before its temperatures arrive)."""
        for prefix, index, value in _POWER.findall(line):
            if prefix == "B":
                key = "B"
            elif prefix == "C":
                key = "C"
            else:
                key = f"T{index or 0}"
            self.powers[key] = min(1.0, int(value) / POWER_MAX)

    def report(self, temps: dict[str, tuple[float, float | None]]) -> None:
        """A temperature report: {key: (actual, target)}."""
        added = False
        for key, (actual, target) in temps.items():
            name = self.names.get(key)
            if name is None:
                name = self._define(key, actual, target)
                added = True
            actual = round(actual, 2)
            if name.startswith("temperature_sensor"):
                obj = self.status.objects[name]
                self.status.update(name, {
                    "temperature": actual,
                    "measured_min_temp": min(obj["measured_min_temp"], actual),
                    "measured_max_temp": max(obj["measured_max_temp"], actual)})
                continue
            fields: dict[str, Any] = {"temperature": actual,
                                      "power": round(self.powers.get(key, 0.0), 3)}
            if target is not None:
                fields["target"] = target
            if name.startswith("extruder"):
                fields["can_extrude"] = actual >= MIN_EXTRUDE_TEMP
            self.status.update(name, fields)
        if added:
            self._publish_lists()
        self.reported.set()
        self.reported.clear()

    def set_target(self, name: str, target: float) -> None:
        """A target the host just sent (the next report confirms it)."""
        if name == "chamber":
            name = self.names.get("C", "heater_generic chamber")
        if name in self.status.objects and "target" in self.status.objects[name]:
            self.status.update(name, {"target": target})
