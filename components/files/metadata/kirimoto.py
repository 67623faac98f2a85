"""Kiri:Moto (and SimplyPrint's build of it): `; key = value` on top, `; --- ` totals at the end."""

from __future__ import annotations

import re
from typing import Any

from .commands import last_layer_z
from .source import GcodeSource
from .values import to_float

Fields = dict[str, Any]

_LAYER = re.compile(rb";; --- layer (\d+) \(")
_PRINT_TIME = re.compile(rb"; --- print time: (\d+)s")
_FILAMENT = re.compile(rb"; --- filament used: (\d*\.?\d+) mm")


def parse_kirimoto(source: GcodeSource) -> Fields:
    """Fields of a Kiri:Moto file."""
    settings = source.header_settings
    tail = source.tail_window(64 * 1024) + source.footer
    fields: Fields = {
        "first_layer_height": to_float(settings.get(b"firstSliceHeight")),
        "layer_height": to_float(settings.get(b"sliceHeight")),
        "first_layer_extr_temp": to_float(settings.get(b"firstLayerNozzleTemp")),
        "first_layer_bed_temp": to_float(settings.get(b"firstLayerBedTemp")),
        "object_height": last_layer_z(source),
    }
    layers = _LAYER.findall(tail)
    if layers:
        fields["layer_count"] = int(layers[-1]) + 1
    if match := _PRINT_TIME.search(tail):
        fields["estimated_time"] = int(match.group(1))
    if match := _FILAMENT.search(tail):
        fields["filament_total"] = float(match.group(1))
    return fields
