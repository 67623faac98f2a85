"""Printer limits from Marlin's `M503` report (M201/M203/M204/M205 lines)."""

from __future__ import annotations

from collections.abc import Iterable

from .limits import Limits
from .reader import Scanner

_SETTINGS = ("M201", "M203", "M204", "M205")


def limits_from_m503(lines: Iterable[str]) -> Limits:
    """Marlin defaults updated by the settings a printer reported (`echo:  M203 X500 ...`)."""
    wanted = []
    junction_deviation = False
    for raw in lines:
        line = raw.strip()
        if line.startswith("echo:"):
            line = line[5:].strip()
        if line.startswith(_SETTINGS):
            wanted.append(line)
            if line.startswith("M205") and " J" in f" {line[4:]}":
                junction_deviation = True
    scanner = Scanner(Limits())
    scanner.scan(wanted)
    if junction_deviation:
        scanner.limits.model = "junction_deviation"
    return scanner.limits
