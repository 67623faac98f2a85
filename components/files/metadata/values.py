"""Turning the text a slicer wrote into numbers, durations and lists."""

from __future__ import annotations

import json
import re

_NUMBER = re.compile(rb"-?\d*\.?\d+(?:[eE][-+]?\d+)?")
_DURATION_PART = re.compile(rb"(\d+(?:\.\d+)?)\s*(d|h|m|s)(?![a-z])")
_UNIT_SECONDS = {b"d": 86400, b"h": 3600, b"m": 60, b"s": 1}
# one item of a `a;b,"c;d"` list: a quoted string (with \" escapes) or a run of non-separators
_LIST_ITEM = re.compile(rb'\s*"((?:\\"|[^"])*)"\s*|[^,;]+')


def to_float(raw: bytes | str | None) -> float | None:
    """The first number in `raw` as a float, or None when there is none."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = raw.encode()
    match = _NUMBER.search(raw)
    if match is None:
        return None
    try:
        return float(match.group())
    except ValueError:
        return None


def to_int(raw: bytes | str | None) -> int | None:
    """The first number in `raw` as an int (rounded), or None when there is none."""
    value = to_float(raw)
    return None if value is None else round(value)


def all_floats(raw: bytes | None) -> list[float]:
    """Every number in `raw`, in order (e.g. the per-extruder list `1.2, 3.4`)."""
    if not raw:
        return []
    return [float(m.group()) for m in _NUMBER.finditer(raw)]


def duration_seconds(raw: bytes | None) -> int | None:
    """Seconds in a `1d 2h 3m 4s` style duration (any subset, in order), None if none."""
    if not raw:
        return None
    total = 0.0
    found = False
    for match in _DURATION_PART.finditer(raw):
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        found = True
    return round(total) if found else None


def split_list(raw: bytes | None) -> list[str]:
    """Items of a slicer list value separated by `,` or `;`, quotes removed, blanks dropped."""
    if raw is None:
        return []
    items: list[str] = []
    for match in _LIST_ITEM.finditer(raw):
        quoted = match.group(1)
        item = quoted.replace(b'\\"', b'"') if quoted is not None else match.group()
        text = item.decode("utf-8", "replace").strip()
        if text:
            items.append(text)
    return items


def one_or_json(items: list[str]) -> str | None:
    """Moonraker's shape for names/types: the single item, or a JSON list when several."""
    if not items:
        return None
    return items[0] if len(items) == 1 else json.dumps(items)


def to_text(raw: bytes | None) -> str | None:
    """A single string value with surrounding quotes and blanks removed."""
    if raw is None:
        return None
    return raw.decode("utf-8", "replace").strip().strip('"')


def int_list(raw: bytes | None) -> list[int] | None:
    """A list of integers (`200,210`), None when an item is not a number."""
    items = split_list(raw)
    try:
        return [round(float(item)) for item in items]
    except ValueError:
        return None
