"""IceSL: a `; key :  value` summary at the top of the file."""

from __future__ import annotations

import re
from typing import Any

from .source import GcodeSource
from .values import to_float, to_int, to_text

Fields = dict[str, Any]

_SUMMARY_LINE = re.compile(rb"^;[ \t]*([a-z_0-9]+)[ \t]+:[ \t]+([^\n]*?)[ \t\r]*$", re.M)

_FLOATS = {
    "first_layer_height": b"z_layer_height_first_layer_mm",
    "layer_height": b"z_layer_height_mm",
    "object_height": b"print_height_mm",
    "first_layer_extr_temp": b"extruder_temp_degree_c_0",
    "first_layer_bed_temp": b"bed_temp_degree_c",
    "chamber_temp": b"chamber_temp_degree_c",
    "filament_total": b"filament_used_mm",
    "filament_weight_total": b"filament_used_g",
    "estimated_time": b"estimated_print_time_s",
    "nozzle_diameter": b"nozzle_diameter_mm_0",
}


def parse_icesl(source: GcodeSource) -> Fields:
    """Fields of an IceSL file."""
    summary: dict[bytes, bytes] = {}
    for match in _SUMMARY_LINE.finditer(source.header_text):
        summary.setdefault(match.group(1), match.group(2))
    fields: Fields = {field: to_float(summary.get(key)) for field, key in _FLOATS.items()}
    fields["layer_count"] = to_int(summary.get(b"layer_count"))
    fields["filament_name"] = to_text(summary.get(b"filament_name"))
    fields["filament_type"] = to_text(summary.get(b"filament_type"))
    return fields
