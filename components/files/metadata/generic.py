"""Files from an unknown slicer: heights and temperatures guessed from the commands."""

from __future__ import annotations

from typing import Any

from .commands import first_layer_z, heater_target, last_layer_z
from .source import GcodeSource
from .values import duration_seconds

Fields = dict[str, Any]


def parse_generic(source: GcodeSource) -> Fields:
    """Heuristic fields: first/last extruding Z and the start G-code's heater targets."""
    fields: Fields = {}
    fields["first_layer_height"] = first_layer_z(source)
    fields["object_height"] = last_layer_z(source)
    fields["first_layer_extr_temp"] = heater_target(source, (b"M109", b"M104"))
    fields["first_layer_bed_temp"] = heater_target(source, (b"M190", b"M140"))
    fields["chamber_temp"] = heater_target(source, (b"M191", b"M141"))
    # a PrusaSlicer-style statistics line survives in many post-processed files
    raw_time = source.footer_settings.get(b"estimated printing time (normal mode)")
    if raw_time is not None:
        fields["estimated_time"] = duration_seconds(raw_time)
    return fields
