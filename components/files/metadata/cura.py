"""Cura (CuraEngine): `;KEY:value` header lines, Marlin and Griffin (Ultimaker) flavours."""

from __future__ import annotations

import re
from typing import Any

from .commands import heater_target
from .source import GcodeSource
from .values import all_floats, to_float, to_text

Fields = dict[str, Any]

# `;TIME:6235`, `;Filament used: 1.2m, 0m`, `;PRINT.TIME:6235`, `;Nozzle diameter = 0.4`
_HEADER_LINE = re.compile(rb"^;([A-Za-z][A-Za-z0-9_. #]*?)\s*[:=]\s*([^\n]*?)\s*$", re.M)
_LAYER_COUNT = re.compile(rb"\n;LAYER_COUNT:(\d+)")


def _header_values(source: GcodeSource) -> dict[bytes, bytes]:
    """The `;key:value` / `;key = value` header lines, keys lower-cased (first one wins)."""
    found: dict[bytes, bytes] = {}
    # the header, plus the start G-code where some profiles print `;Nozzle diameter = 0.4`
    start = source.gcode_start_byte or 0
    for match in _HEADER_LINE.finditer(source.header_text + source.head[start : start + 16384]):
        found.setdefault(match.group(1).lower(), match.group(2))
    return found


def parse_cura(source: GcodeSource) -> Fields:
    """Fields of a Cura file."""
    header = _header_values(source)
    fields: Fields = {}
    layer_height = to_float(header.get(b"layer height"))
    fields["layer_height"] = layer_height
    fields["first_layer_height"] = to_float(header.get(b"minz"))
    fields["object_height"] = to_float(header.get(b"maxz", header.get(b"print.size.max.z")))
    lengths_m = all_floats(header.get(b"filament used"))
    if lengths_m:
        fields["filament_total"] = round(sum(lengths_m) * 1000, 6)
    elif volume := to_float(header.get(b"extruder_train.0.material.volume_used")):
        # Griffin reports volume (mm^3); 1.75 mm filament unless the header says otherwise
        diameter = to_float(header.get(b"filament diameter")) or 1.75
        fields["filament_total"] = round(volume / (3.141592653589793 * (diameter / 2) ** 2), 2)
    weights = all_floats((header.get(b"filament weight") or b"").strip(b"[]"))
    if weights:
        fields["filament_weights"] = weights
        fields["filament_weight_total"] = round(sum(weights), 6)
    fields["filament_type"] = to_text(header.get(b"filament type"))
    fields["filament_name"] = to_text(header.get(b"filament name"))
    time = to_float(header.get(b"time", header.get(b"print.time")))
    fields["estimated_time"] = time
    fields["nozzle_diameter"] = to_float(
        header.get(b"nozzle diameter", header.get(b"extruder_train.0.nozzle.diameter"))
    )
    fields["first_layer_extr_temp"] = to_float(
        header.get(b"extruder_train.0.initial_temperature")
    ) or heater_target(source, (b"M109", b"M104"))
    fields["first_layer_bed_temp"] = to_float(
        header.get(b"build_plate.initial_temperature")
    ) or heater_target(source, (b"M190", b"M140"))
    fields["chamber_temp"] = heater_target(source, (b"M191", b"M141"))
    if match := _LAYER_COUNT.search(source.head_window()):
        fields["layer_count"] = int(match.group(1))
    return fields
