"""BambuStudio: a `; HEADER_BLOCK_START` summary and the settings dump both at the top."""

from __future__ import annotations

import re

from .prusa import Fields, Settings, common_fields, object_height
from .source import GcodeSource
from .values import all_floats, duration_seconds

_SUMMARY_LINE = re.compile(rb"^; ([^:=\n]+?)\s*: ([^\n]*)$", re.M)
_TOTAL_ESTIMATED = re.compile(rb"total estimated time: ([^\n;]+)")


def _summary(header: bytes) -> dict[bytes, bytes]:
    """`; key: value` lines of the HEADER_BLOCK (keys like `total filament weight [g]`)."""
    start = header.find(b"; HEADER_BLOCK_START")
    if start < 0:
        return {}
    end = header.find(b"; HEADER_BLOCK_END", start)
    block = header[start : end if end > 0 else start + 4096]
    return {m.group(1): m.group(2) for m in _SUMMARY_LINE.finditer(block)}


def parse_bambu(source: GcodeSource) -> Fields:
    """Fields of a BambuStudio file."""
    settings = Settings(source.header_settings, source.footer_settings)
    summary = _summary(source.header)
    fields = common_fields(settings)
    fields["object_height"] = object_height(source, settings)
    layers = summary.get(b"total layer number")
    fields["layer_count"] = int(layers) if layers and layers.strip().isdigit() else None
    time_match = _TOTAL_ESTIMATED.search(source.header)
    if time_match:
        fields["estimated_time"] = duration_seconds(time_match.group(1))
    else:
        fields["estimated_time"] = duration_seconds(
            settings.get(b"estimated printing time (normal mode)")
        )
    lengths = all_floats(summary.get(b"total filament length [mm]"))
    if lengths:
        fields["filament_total"] = round(sum(lengths), 6)
    weights = all_floats(summary.get(b"total filament weight [g]"))
    if weights:
        fields["filament_weights"] = weights
        fields["filament_weight_total"] = round(sum(weights), 6)
    return fields
