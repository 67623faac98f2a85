"""Raise3D ideaMaker: `;Key:value` header lines, `;LAYER:n` / `;HEIGHT:` markers per layer."""

from __future__ import annotations

import math
import re
from typing import Any

from .commands import heater_target
from .source import GcodeSource
from .values import to_float, to_text

Fields = dict[str, Any]

_LAYER_HEIGHT = re.compile(rb";LAYER:(\d+)\s*\n(?:;[^\n]*\n)*?;HEIGHT:(\d*\.?\d+)")
_BOUNDING_BOX = re.compile(rb";Bounding Box:([-0-9. \t]+)")
_DIMENSION = re.compile(rb";Dimension:[ \t]*(?:\d*\.?\d+[ \t]+){3}(\d*\.?\d+)")
_MATERIAL_USED = re.compile(rb";Material.\d+ Used:\s*(\d*\.?\d+)")
_FILAMENT_DIAMETER = re.compile(rb";Filament Diameter .\d+:\s*(\d*\.?\d+)")
_FILAMENT_DENSITY = re.compile(rb";Filament Density .\d+:\s*(\d*\.?\d+)")
_FILAMENT_TYPE = re.compile(rb";Filament [Tt]ype(?: .\d+:| =)\s*([^\n]+)")
_FILAMENT_NAME = re.compile(rb";Filament [Nn]ame(?: .\d+:| =)\s*([^\n]+)")
_PRINT_TIME = re.compile(rb";Print Time:\s*(\d*\.?\d+)")
_LAYER_COUNT = re.compile(rb";Layer Count:\s*(\d+)")


def _floats(pattern: re.Pattern[bytes], block: bytes) -> list[float]:
    return [float(x) for x in pattern.findall(block)]


def parse_ideamaker(source: GcodeSource) -> Fields:
    """Fields of an ideaMaker file (its summary lines may be at either end)."""
    head = source.head_window()
    tail = source.tail_window(64 * 1024) + source.footer
    fields: Fields = {}
    heights = {int(n): float(h) for n, h in _LAYER_HEIGHT.findall(head[:262144])}
    fields["first_layer_height"] = heights.get(0)
    fields["layer_height"] = heights.get(1)
    if match := _BOUNDING_BOX.search(head):
        fields["object_height"] = to_float(match.group(1).split()[-1])
    if match := _DIMENSION.search(head):
        fields["nozzle_diameter"] = float(match.group(1))
    lengths = _floats(_MATERIAL_USED, tail) or _floats(_MATERIAL_USED, head)
    if lengths:
        fields["filament_total"] = round(sum(lengths), 6)
        diameters = _floats(_FILAMENT_DIAMETER, head)
        densities = _floats(_FILAMENT_DENSITY, head)
        if len(diameters) == len(densities) == len(lengths):
            # mass = cross-section x length x density (g/cm^3 -> g/mm^3)
            fields["filament_weight_total"] = round(
                sum(
                    math.pi / 4 * d**2 * length * rho / 1000
                    for d, length, rho in zip(diameters, lengths, densities, strict=True)
                ),
                6,
            )
    if match := _FILAMENT_TYPE.search(head):
        fields["filament_type"] = to_text(match.group(1))
    if match := _FILAMENT_NAME.search(head):
        fields["filament_name"] = to_text(match.group(1))
    time_match = _PRINT_TIME.search(tail) or _PRINT_TIME.search(head)
    if time_match:
        fields["estimated_time"] = float(time_match.group(1))
    if match := _LAYER_COUNT.search(head):
        fields["layer_count"] = int(match.group(1))
    elif source.whole and b"\n;LAYER:" in source.tail:
        fields["layer_count"] = source.tail.count(b"\n;LAYER:")
    fields["first_layer_extr_temp"] = heater_target(source, (b"M109", b"M104"))
    fields["first_layer_bed_temp"] = heater_target(source, (b"M190", b"M140"))
    fields["chamber_temp"] = heater_target(source, (b"M191", b"M141"))
    return fields
