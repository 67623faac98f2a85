"""A Klipper-style `configfile` (and toolhead limits) made from the printer profile and M503.

Frontends read `configfile.config` (raw strings) and `configfile.settings` (typed, lower-case
section names) to decide what to show: Mainsail warns without `virtual_sdcard`, `pause_resume`,
`display_status` and the PAUSE/RESUME/CANCEL_PRINT macros; both read the kinematics, axis limits
and extruder settings. Nothing here talks to the printer: `parse_m503` reads its answer.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Klipper's defaults where Marlin reports nothing comparable
MIN_EXTRUDE_TEMP = 170.0
FILAMENT_DIAMETER = 1.75
MINIMUM_CRUISE_RATIO = 0.5
SQUARE_CORNER_VELOCITY = 5.0
_M503_LINE = re.compile(r"^(?:echo:)?\s*(M\d+)((?:\s+[A-Z]-?\d*\.?\d+)+)")


def parse_m503(lines: list[str]) -> dict[str, dict[str, float]]:
    """`echo:  M203 X500.00 Y500.00 …` lines -> {"M203": {"X": 500.0, …}} (later lines win)."""
    settings: dict[str, dict[str, float]] = {}
    for line in lines:
        match = _M503_LINE.match(line.strip())
        if match is None:
            continue
        values = settings.setdefault(match.group(1), {})
        for word in match.group(2).split():
            try:
                values[word[0]] = float(word[1:])
            except ValueError:
                continue
    return settings


class MachineLimits:
    """Axis limits and motion limits as Klipper's toolhead reports them."""

    def __init__(self, profile: dict[str, Any], m503: dict[str, dict[str, float]]) -> None:
        volume = profile.get("volume", {})
        box = volume.get("custom_box") or None
        width = float(volume.get("width", 200.0))
        depth = float(volume.get("depth", 200.0))
        height = float(volume.get("height", 200.0))
        if box:
            self.minimum = [box["x_min"], box["y_min"], box["z_min"]]
            self.maximum = [box["x_max"], box["y_max"], box["z_max"]]
        elif volume.get("origin") == "center":
            self.minimum = [-width / 2, -depth / 2, 0.0]
            self.maximum = [width / 2, depth / 2, height]
        else:
            self.minimum = [0.0, 0.0, 0.0]
            self.maximum = [width, depth, height]
        axes = profile.get("axes", {})
        feed = m503.get("M203", {})
        accel = m503.get("M201", {})
        # the profile's axis speeds are mm/min (OctoPrint); M203 is mm/s
        self.max_velocity = feed.get("X") or float(axes.get("x", {}).get("speed", 6000)) / 60
        self.max_z_velocity = feed.get("Z") or float(axes.get("z", {}).get("speed", 200)) / 60
        print_accel = m503.get("M204", {}).get("P")
        self.max_accel = print_accel or accel.get("X") or 3000.0
        self.max_z_accel = accel.get("Z") or 100.0
        junction = m503.get("M205", {}).get("J")
        if junction and junction > 0:
            # Klipper: junction_deviation = scv^2 * (sqrt(2) - 1) / max_accel
            self.square_corner_velocity = round(
                math.sqrt(junction * self.max_accel / (math.sqrt(2) - 1)), 3)
        else:
            self.square_corner_velocity = SQUARE_CORNER_VELOCITY

    def axis_minimum(self) -> list[float]:
        """`toolhead.axis_minimum` ([x, y, z, e])."""
        return [*self.minimum, 0.0]

    def axis_maximum(self) -> list[float]:
        """`toolhead.axis_maximum` ([x, y, z, e])."""
        return [*self.maximum, 0.0]

    def toolhead(self) -> dict[str, Any]:
        """The toolhead fields that come from the limits."""
        return {
            "axis_minimum": self.axis_minimum(), "axis_maximum": self.axis_maximum(),
            "max_velocity": float(self.max_velocity), "max_accel": float(self.max_accel),
            "minimum_cruise_ratio": MINIMUM_CRUISE_RATIO,
            "max_accel_to_decel": float(self.max_accel) * MINIMUM_CRUISE_RATIO,
            "square_corner_velocity": float(self.square_corner_velocity),
        }


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def build_configfile(profile: dict[str, Any], m503: dict[str, dict[str, float]],
                     gcodes_path: str, serial_port: str,
                     macros: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`configfile.config` and `.settings` for this printer.

    `macros` maps `gcode_macro <name>` sections (names as configured) to their typed settings
    (`gcode`, `description`, `variable_*`).
    """
    limits = MachineLimits(profile, m503)
    extruder = profile.get("extruder", {})
    count = int(extruder.get("count", 1))
    nozzle = float(extruder.get("nozzleDiameter", 0.4))
    settings: dict[str, dict[str, Any]] = {
        "mcu": {"serial": serial_port, "baud": 250000, "restart_method": "command"},
        "printer": {
            "kinematics": "cartesian", "max_velocity": limits.max_velocity,
            "max_accel": limits.max_accel, "max_z_velocity": limits.max_z_velocity,
            "max_z_accel": limits.max_z_accel,
            "minimum_cruise_ratio": MINIMUM_CRUISE_RATIO,
            "square_corner_velocity": limits.square_corner_velocity,
        },
    }
    for index, axis in enumerate("xyz"):
        settings[f"stepper_{axis}"] = {
            "position_min": limits.minimum[index], "position_max": limits.maximum[index],
            "position_endstop": limits.minimum[index],
            "homing_speed": 50.0 if axis != "z" else limits.max_z_velocity,
        }
    steps = m503.get("M92", {})
    for tool in range(count):
        name = "extruder" if tool == 0 else f"extruder{tool}"
        settings[name] = {
            "nozzle_diameter": nozzle, "filament_diameter": FILAMENT_DIAMETER,
            "min_extrude_temp": MIN_EXTRUDE_TEMP, "min_temp": 0.0, "max_temp": 275.0,
            "max_extrude_only_distance": 50.0, "pressure_advance": 0.0,
            "pressure_advance_smooth_time": 0.04,
            "rotation_distance": round(200 * 16 / steps["E"], 4) if steps.get("E") else 33.5,
        }
    if profile.get("heatedBed", True):
        settings["heater_bed"] = {"min_temp": 0.0, "max_temp": 120.0}
    if profile.get("heatedChamber", False):
        settings["heater_generic chamber"] = {"min_temp": 0.0, "max_temp": 80.0}
    settings.update({
        "fan": {},
        "virtual_sdcard": {"path": gcodes_path, "on_error_gcode": ""},
        "pause_resume": {"recover_velocity": 50.0},
        "display_status": {},
        "exclude_object": {},
        "idle_timeout": {"timeout": 600.0, "gcode": "TURN_OFF_HEATERS\nM84"},
        "respond": {"default_type": "echo", "default_prefix": "echo:"},
    })
    config: dict[str, dict[str, str]] = {
        name: {key: _fmt(value) for key, value in values.items()}
        for name, values in settings.items()}
    for section, values in macros.items():
        config[section] = {key: _fmt(value) for key, value in values.items()}
        settings[section.lower()] = dict(values)
    return {"config": config, "settings": settings, "save_config_pending": False,
            "save_config_pending_items": {}, "warnings": []}
