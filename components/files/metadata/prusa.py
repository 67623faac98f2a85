"""PrusaSlicer and its forks (SuperSlicer, OrcaSlicer, QIDISlicer...), Slic3r PE and Slic3r.

They end the file with statistics and a `; key = value` dump of every setting; OrcaSlicer also
writes a `; HEADER_BLOCK_START` summary at the top and uses BambuStudio's setting names.
"""

from __future__ import annotations

import re
from typing import Any

from .commands import last_layer_z
from .source import GcodeSource
from .values import (
    all_floats,
    duration_seconds,
    int_list,
    one_or_json,
    split_list,
    to_float,
    to_int,
    to_text,
)

Fields = dict[str, Any]

_TOTAL_LAYER_NUMBER = re.compile(rb"; total layer number: (\d+)")
_MAX_Z_HEIGHT = re.compile(rb"; max_z_height: (\d*\.?\d+)")
_TOTAL_ESTIMATED = re.compile(rb"; model printing time: [^\n;]*; total estimated time: ([^\n]+)")
_Z_MARKER = re.compile(rb"\n;Z:(\d*\.?\d+)")
# Slic3r PE 1.41 and Slic3r 1.3: `; filament used = 1234.5mm (3.0cm3)`
_FILAMENT_USED_MM = re.compile(rb"(\d*\.?\d+)\s*mm")

# OrcaSlicer/BambuStudio keep one first-layer bed temperature per build plate type
PLATE_TEMPERATURE_KEYS = {
    b"cool plate": b"cool_plate_temp_initial_layer",
    b"engineering plate": b"eng_plate_temp_initial_layer",
    b"high temp plate": b"hot_plate_temp_initial_layer",
    b"textured pei plate": b"textured_plate_temp_initial_layer",
    b"smooth pei plate": b"hot_plate_temp_initial_layer",
    b"supertack plate": b"supertack_plate_temp_initial_layer",
}


class Settings:
    """Lookup of `; key = value` settings over the footer first, then the header."""

    def __init__(self, *blocks: dict[bytes, bytes]) -> None:
        self._blocks = blocks

    def get(self, *keys: bytes) -> bytes | None:
        """The value of the first of `keys` present in any block."""
        for key in keys:
            for block in self._blocks:
                value = block.get(key)
                if value is not None:
                    return value
        return None

    def first_float(self, *keys: bytes) -> float | None:
        """The first number of the first present key (lists give their first item)."""
        return to_float(self.get(*keys))


def first_layer_bed_temp(settings: Settings) -> float | None:
    """PrusaSlicer's key, else the Orca/Bambu key of the plate type in use."""
    value = settings.first_float(b"first_layer_bed_temperature")
    if value is not None:
        return value
    plate = (settings.get(b"curr_bed_type") or b"").strip().strip(b'"').lower()
    plate_key = PLATE_TEMPERATURE_KEYS.get(plate)
    keys = (plate_key,) if plate_key else ()
    return settings.first_float(
        *keys, b"hot_plate_temp_initial_layer", b"bed_temperature_initial_layer_single"
    )


def common_fields(settings: Settings) -> Fields:
    """Fields named the same way by PrusaSlicer, its forks, Slic3r and BambuStudio."""
    fields: Fields = {}
    layer_height = settings.first_float(b"layer_height")
    fields["layer_height"] = layer_height
    raw_first = settings.get(b"first_layer_height", b"initial_layer_print_height")
    first = to_float(raw_first)
    if first is not None and raw_first is not None and raw_first.rstrip().endswith(b"%"):
        first = None if layer_height is None else round(first / 100 * layer_height, 6)
    fields["first_layer_height"] = first
    fields["nozzle_diameter"] = settings.first_float(b"nozzle_diameter")
    fields["first_layer_extr_temp"] = settings.first_float(
        b"first_layer_temperature", b"nozzle_temperature_initial_layer"
    )
    fields["first_layer_bed_temp"] = first_layer_bed_temp(settings)
    fields["chamber_temp"] = settings.first_float(b"chamber_temperature", b"chamber_temperatures")
    fields["filament_name"] = one_or_json(split_list(settings.get(b"filament_settings_id")))
    fields["filament_type"] = one_or_json(split_list(settings.get(b"filament_type")))
    colors = settings.get(b"filament_colour")
    if colors is not None:
        fields["filament_colors"] = split_list(colors)
    extruder_colors = settings.get(b"extruder_colour")
    if extruder_colors is not None:
        fields["extruder_colors"] = split_list(extruder_colors)
    temps = settings.get(b"temperature", b"nozzle_temperature")
    if temps is not None:
        fields["filament_temps"] = int_list(temps)
    tools = settings.get(b"referenced_tools")
    if tools is not None:
        fields["referenced_tools"] = int_list(tools)
    fields["mmu_print"] = to_int(settings.get(b"single_extruder_multi_material"))
    fields["filament_change_count"] = to_int(
        settings.get(b"total toolchanges", b"total filament change")
    )
    for field, key in (
        ("printer_vendor", b"printer_vendor"),
        ("printer_model", b"printer_model"),
        ("printer_variant", b"printer_variant"),
        ("profile_version", b"profile_version"),
    ):
        fields[field] = to_text(settings.get(key))
    return fields


def object_height(source: GcodeSource, settings: Settings) -> float | None:
    """The `; max_z_height:` summary, else the highest `;Z:` layer marker near the end."""
    if match := _MAX_Z_HEIGHT.search(source.header):
        return float(match.group(1))
    window = source.tail_window()
    if settings.get(b"complete_objects") not in (None, b"0"):
        # sequential printing: objects restart at the bed, the last one may be the shortest
        heights = [float(z) for z in _Z_MARKER.findall(window)]
        return max(heights) if heights else None
    marker = window.rfind(b"\n;Z:")
    if marker < 0:
        # Slic3r, Slic3r PE: no layer markers; the Z of the last extruding move
        return last_layer_z(source)
    return to_float(window[marker + 4 : marker + 24].split(b"\n", 1)[0])


def layer_count(source: GcodeSource, settings: Settings) -> int | None:
    """The count the slicer wrote, else the `;LAYER_CHANGE` markers of a fully read file."""
    written = to_int(settings.get(b"total layers count"))
    if written is not None:
        return written
    if match := _TOTAL_LAYER_NUMBER.search(source.header):
        return int(match.group(1))
    if source.whole and b"\n;LAYER_CHANGE" in source.tail:
        return source.tail.count(b"\n;LAYER_CHANGE")
    return None


def estimated_time(source: GcodeSource, settings: Settings) -> int | None:
    """`; estimated printing time (normal mode) = 1h 2m 3s` in seconds (OrcaSlicer: header)."""
    raw = settings.get(b"estimated printing time (normal mode)", b"estimated printing time")
    if raw is not None:
        return duration_seconds(raw)
    if match := _TOTAL_ESTIMATED.search(source.header):
        return duration_seconds(match.group(1))
    return None


def parse_prusa(source: GcodeSource, family: str) -> Fields:
    """Fields of a PrusaSlicer-family file (`family`: prusa, slic3r_pe or slic3r)."""
    settings = Settings(source.footer_settings, source.header_settings)
    fields = common_fields(settings)
    fields["object_height"] = object_height(source, settings)
    fields["layer_count"] = layer_count(source, settings)
    if family == "slic3r":
        length_m = settings.first_float(b"filament_length_m")
        if length_m is not None:
            fields["filament_total"] = round(length_m * 1000, 6)
        fields["filament_weight_total"] = settings.first_float(b"filament mass_g")
    else:
        fields["estimated_time"] = estimated_time(source, settings)
        lengths = all_floats(settings.get(b"filament used [mm]"))
        if lengths:
            fields["filament_total"] = round(sum(lengths), 6)
        weights = all_floats(settings.get(b"filament used [g]"))
        if weights:
            fields["filament_weights"] = weights
        fields["filament_weight_total"] = settings.first_float(b"total filament used [g]")
    if fields.get("filament_total") is None and (used := settings.get(b"filament used")):
        # Slic3r PE / Slic3r: `; filament used = 1234.5mm (3.0cm3)`, one per extruder
        lengths = [float(m) for m in _FILAMENT_USED_MM.findall(used)]
        if lengths:
            fields["filament_total"] = round(sum(lengths), 6)
    return fields
