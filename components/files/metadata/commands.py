"""Heuristics read from the G-code commands themselves: heater targets and layer Z heights."""

from __future__ import annotations

import re
from functools import lru_cache

from .source import GcodeSource
from .values import to_float

# a G0/G1 move's parameters up to any comment
_MOVE = re.compile(rb"\nG[01][ \t]([^\n;]*)")
_Z_WORD = re.compile(rb"Z(-?\d*\.?\d+)")
_EXTRUDING = re.compile(rb"[XY]-?\d*\.?\d.*E\d*\.?\d")
_Z_VALUE = re.compile(rb"Z(\d*\.?\d+)")
# in reversed text: `<digits>Z ... G1` + line start, i.e. the last move that sets Z
_REVERSED_Z_MOVE = re.compile(rb"([0-9.]+)Z(?:[ \t][^\n;]*)?[ \t][01]G(?:\n|$)")
# a sane ceiling for the number of lines walked back over the end G-code
_END_GCODE_LINES = 400


def heater_target(source: GcodeSource, codes: tuple[bytes, ...]) -> float | None:
    """The first target set by one of `codes` (e.g. `M109`, `M104`) in the start G-code.

    Earlier codes in the tuple win; a zero target (heater off) is skipped.
    """
    window = source.head_window()
    for code in codes:
        if code not in window:
            continue
        for match in _heater_pattern(code).finditer(window):
            value = to_float(match.group(1))
            if value:
                return value
    return None


@lru_cache(maxsize=16)
def _heater_pattern(code: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"\n" + code + rb"(?:[ \t]+T\d+)?[ \t]+[SR](\d*\.?\d+)")


def first_layer_z(source: GcodeSource) -> float | None:
    """Z of the first extruding move (the first layer's height above the bed)."""
    window = source.head_window()
    z: float | None = None
    for match in _MOVE.finditer(window, source.gcode_start_byte or 0):
        params = match.group(1)
        z_word = _Z_WORD.search(params)
        if z_word:
            z = float(z_word.group(1))
        if z is not None and _EXTRUDING.search(params):
            return z
    return None


def last_layer_z(source: GcodeSource) -> float | None:
    """Z of the last extruding move: the printed height, ignoring the end G-code's lifts."""
    window = source.tail_window()
    stop = len(window)
    extrusion_end: int | None = None
    # walk back over the end G-code to the last extruding move
    for _ in range(_END_GCODE_LINES):
        if stop <= 0:
            break
        start = window.rfind(b"\n", 0, stop) + 1
        line = window[start:stop].split(b";", 1)[0]
        if line[:3] in (b"G1 ", b"G0 ", b"G1\t", b"G2 ", b"G3 ") and _EXTRUDING.search(line):
            extrusion_end = stop
            break
        stop = start - 1
    if extrusion_end is None:
        return max_z(window)
    # the Z in force at that move: the last Z word before it, found by searching backwards
    reversed_window = window[:extrusion_end][::-1]
    match = _REVERSED_Z_MOVE.search(reversed_window)
    if match is None:
        return None
    return to_float(match.group(1)[::-1])


def max_z(window: bytes) -> float | None:
    """The highest Z word of any G0/G1 move in `window`."""
    heights = [
        float(z.group(1))
        for move in _MOVE.finditer(window)
        if (z := _Z_VALUE.search(move.group(1)))
    ]
    return max(heights) if heights else None
