"""KISSlicer: `; key = value` settings on top, layer markers and usage totals at the end."""

from __future__ import annotations

import re
from typing import Any

from .source import GcodeSource
from .values import to_float, to_text

Fields = dict[str, Any]

_END_LAYER_Z = re.compile(rb";\s*END_LAYER_OBJECT\s+z=(\d*\.?\d+)")
_EXTRUDER_USAGE = re.compile(rb";\s+Ext #\d+\s*=\s*(\d*\.?\d+)\s*mm")
_BUILD_MINUTES = re.compile(rb";\s*Calculated[^\n]*Build Time:\s*(\d*\.?\d+)\s*minutes")
_LAYER_MARKER = b"; BEGIN_LAYER_OBJECT"


def parse_kisslicer(source: GcodeSource) -> Fields:
    """Fields of a KISSlicer file."""
    settings = source.header_settings
    tail = source.footer or source.tail_window(16384)
    fields: Fields = {}
    fields["first_layer_height"] = to_float(settings.get(b"first_layer_thickness_mm"))
    fields["layer_height"] = to_float(
        settings.get(b"max_layer_thickness_mm", settings.get(b"layer_thickness_mm"))
    )
    heights = [float(z) for z in _END_LAYER_Z.findall(source.tail_window(64 * 1024))]
    fields["object_height"] = max(heights) if heights else None
    lengths = [float(x) for x in _EXTRUDER_USAGE.findall(tail)]
    if lengths:
        fields["filament_total"] = round(sum(lengths), 6)
    if match := _BUILD_MINUTES.search(tail):
        fields["estimated_time"] = round(float(match.group(1)) * 60, 2)
    fields["first_layer_extr_temp"] = to_float(settings.get(b"first_layer_C"))
    fields["first_layer_bed_temp"] = to_float(settings.get(b"bed_C"))
    fields["chamber_temp"] = to_float(settings.get(b"chamber_C"))
    fields["nozzle_diameter"] = to_float(
        settings.get(b"nozzle_dia_1", settings.get(b"nozzle_dia"))
    )
    fields["filament_name"] = to_text(settings.get(b"material_name"))
    if source.whole and _LAYER_MARKER in source.tail:
        fields["layer_count"] = source.tail.count(_LAYER_MARKER)
    return fields
