"""Simplify3D 4 and 5: a `;   key,value` settings summary on top, a build summary at the end."""

from __future__ import annotations

import re
from typing import Any

from .commands import first_layer_z, last_layer_z
from .source import GcodeSource
from .values import to_float, to_text

Fields = dict[str, Any]

_SETTING = re.compile(rb"^;[ \t]+([A-Za-z][A-Za-z0-9]*),([^\n]*?)\s*$", re.M)
_BUILD_TIME = re.compile(rb";\s+Build [tT]ime:([^\n]*)")
_TIME_PART = re.compile(rb"(\d+)\s*(hour|min|sec)")
_TIME_UNITS = {b"hour": 3600, b"min": 60, b"sec": 1}
_LENGTH = re.compile(rb";\s+(?:Filament length|Material Length):\s*(\d*\.?\d+)\s*mm")
_WEIGHT = re.compile(rb";\s+(?:Plastic weight|Material Weight):\s*(\d*\.?\d+)\s*g")
# v5: one `temperatureController` paragraph per heater with its type and `layer|temp` setpoints
_V5_HEATER = re.compile(
    rb";[ \t]+temperatureController,[^\n]*\n(?:;[^\n]*\n)*?;[ \t]+temperatureType,(\w+)\r?\n"
    rb"(?:;[^\n]*\n)*?;[ \t]+temperatureSetpoints,\d+\|(\d*\.?\d+)"
)


def _settings(header: bytes) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for match in _SETTING.finditer(header):
        found.setdefault(match.group(1), match.group(2))
    return found


def _v4_temperature(settings: dict[bytes, bytes], heater: bytes) -> float | None:
    """v4 lists heaters and their first setpoints in parallel comma lists."""
    names = (settings.get(b"temperatureName") or b"").split(b",")
    temps = (settings.get(b"temperatureSetpointTemperatures") or b"").split(b",")
    for name, temp in zip(names, temps, strict=False):
        if name.strip() == heater:
            return to_float(temp)
    return None


def _v5_temperature(header: bytes, heater_type: bytes) -> float | None:
    for match in _V5_HEATER.finditer(header):
        if match.group(1) == heater_type:
            return float(match.group(2))
    return None


def build_time_seconds(footer: bytes) -> int | None:
    """`;   Build time: 1 hours 2 minutes` (v4) or `;   Build Time: 1 hour 2 min 3 sec` (v5)."""
    match = _BUILD_TIME.search(footer)
    if match is None:
        return None
    parts = _TIME_PART.findall(match.group(1))
    return sum(int(value) * _TIME_UNITS[unit] for value, unit in parts) if parts else None


def parse_simplify3d(source: GcodeSource, version: str) -> Fields:
    """Fields of a Simplify3D file."""
    header = source.header
    settings = _settings(header)
    footer = source.footer or source.tail_window(8192)
    fields: Fields = {}
    layer_height = to_float(settings.get(b"layerHeight"))
    fields["layer_height"] = layer_height
    first_pct = to_float(settings.get(b"firstLayerHeightPercentage"))
    if layer_height is not None and first_pct is not None:
        fields["first_layer_height"] = round(layer_height * first_pct / 100, 6)
    else:
        fields["first_layer_height"] = first_layer_z(source)
    fields["object_height"] = last_layer_z(source)
    if match := _LENGTH.search(footer):
        fields["filament_total"] = float(match.group(1))
    if match := _WEIGHT.search(footer):
        fields["filament_weight_total"] = float(match.group(1))
    fields["filament_name"] = to_text(settings.get(b"printMaterial"))
    fields["filament_type"] = to_text(settings.get(b"makerBotModelMaterial"))
    fields["estimated_time"] = build_time_seconds(footer)
    fields["nozzle_diameter"] = to_float(
        settings.get(b"extruderDiameter", settings.get(b"nozzleDiameter"))
    )
    if version.startswith("5"):
        fields["first_layer_extr_temp"] = _v5_temperature(header, b"extruder")
        fields["first_layer_bed_temp"] = _v5_temperature(header, b"platform")
    else:
        fields["first_layer_extr_temp"] = _v4_temperature(settings, b"Extruder 1")
        fields["first_layer_bed_temp"] = _v4_temperature(settings, b"Heated Bed")
    return fields
