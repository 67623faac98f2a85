"""Klipper's exclude_object for host prints: labelled objects found in the file, skipped on demand.

A file labels its objects with PrusaSlicer's `; printing object NAME` / `; stop printing object`
comments, Klipper's `EXCLUDE_OBJECT_START NAME=…` / `EXCLUDE_OBJECT_END` (with
`EXCLUDE_OBJECT_DEFINE` giving centers and polygons) or Marlin's `M486 S<id>` (`S-1` ends,
`A<name>` names it). A scan in a worker thread turns the file into byte regions per object, with
a center and a bounding polygon from the extruding moves, so that `current_object` follows the
acknowledged file position and the job layer can ask `filter()` for every line it streams.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from pathlib import Path
from typing import Any

_NAME = re.compile(r"NAME=(\"[^\"]*\"|'[^']*'|\S+)", re.IGNORECASE)
_CENTER = re.compile(r"CENTER=(\S+)", re.IGNORECASE)
_POLYGON = re.compile(r"POLYGON=(\[\[.*?\]\])", re.IGNORECASE)
_M486_NAME = re.compile(r"A\s*(\"[^\"]*\"|\S.*)$", re.IGNORECASE)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def object_name(raw: str) -> str:
    """Klipper's form of an object name: upper case, no spaces or quotes."""
    return _UNSAFE.sub("_", raw.strip().strip("\"'")).strip("_").upper()


@dataclasses.dataclass
class LabelledObject:
    """One object: its name, where it sits on the bed and where its lines are in the file."""

    name: str
    regions: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    min_xy: list[float] | None = None
    max_xy: list[float] | None = None
    center: list[float] | None = None
    polygon: list[list[float]] | None = None

    def extend(self, x: float, y: float) -> None:
        """Grow the bounding box by an extruding move's end point."""
        if self.min_xy is None or self.max_xy is None:
            self.min_xy, self.max_xy = [x, y], [x, y]
            return
        self.min_xy = [min(self.min_xy[0], x), min(self.min_xy[1], y)]
        self.max_xy = [max(self.max_xy[0], x), max(self.max_xy[1], y)]

    def status(self) -> dict[str, Any]:
        """The `exclude_object.objects` entry."""
        entry: dict[str, Any] = {"name": self.name}
        center, polygon = self.center, self.polygon
        if center is None and self.min_xy is not None and self.max_xy is not None:
            (x0, y0), (x1, y1) = self.min_xy, self.max_xy
            center = [round((x0 + x1) / 2, 3), round((y0 + y1) / 2, 3)]
            polygon = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
        if center is not None:
            entry["center"] = center
        if polygon is not None:
            entry["polygon"] = polygon
        return entry


class _Scan:
    """The state of one pass over a file."""

    def __init__(self) -> None:
        self.objects: dict[str, LabelledObject] = {}
        self.current: LabelledObject | None = None
        self.start = 0
        self.absolute = True
        self.extrude_absolute = True
        self.x = self.y = self.e = 0.0
        self.m486_names: dict[int, str] = {}

    def get(self, name: str) -> LabelledObject:
        obj = self.objects.get(name)
        if obj is None:
            obj = self.objects[name] = LabelledObject(name)
        return obj

    def begin(self, name: str, offset: int) -> None:
        self.end(offset)
        self.current = self.get(name)
        self.start = offset

    def end(self, offset: int) -> None:
        if self.current is not None and offset > self.start:
            self.current.regions.append((self.start, offset))
        self.current = None

    def comment(self, text: str, offset: int, line_end: int) -> None:
        text = text.strip()
        if text.startswith("printing object "):
            self.begin(object_name(text[len("printing object "):]), line_end)
        elif text.startswith("stop printing object"):
            self.end(offset)

    def command(self, text: str, offset: int, line_end: int) -> None:
        head = text.split(None, 1)[0].upper()
        if head.startswith("EXCLUDE_OBJECT"):
            self._klipper(head, text, offset, line_end)
        elif head == "M486":
            self._m486(text, offset, line_end)
        elif head in ("G0", "G1", "G2", "G3"):
            self._move(text)
        elif head == "G90":
            self.absolute = self.extrude_absolute = True
        elif head == "G91":
            self.absolute = self.extrude_absolute = False
        elif head == "M82":
            self.extrude_absolute = True
        elif head == "M83":
            self.extrude_absolute = False
        elif head == "G92":
            for word in text.split()[1:]:
                if word[:1].upper() == "E":
                    try:
                        self.e = float(word[1:])
                    except ValueError:
                        pass

    def _klipper(self, head: str, text: str, offset: int, line_end: int) -> None:
        match = _NAME.search(text)
        name = object_name(match.group(1)) if match else ""
        if head == "EXCLUDE_OBJECT_DEFINE" and name:
            obj = self.get(name)
            center = _CENTER.search(text)
            if center:
                try:
                    obj.center = [float(v) for v in center.group(1).split(",")[:2]]
                except ValueError:
                    pass
            polygon = _POLYGON.search(text)
            if polygon:
                try:
                    points = [p.strip("[] ").split(",") for p in polygon.group(1).split("],")]
                    obj.polygon = [[float(a), float(b)] for a, b, *_ in points]
                except ValueError:
                    pass
        elif head == "EXCLUDE_OBJECT_START" and name:
            self.begin(name, line_end)
        elif head == "EXCLUDE_OBJECT_END":
            self.end(offset)

    def _m486(self, text: str, offset: int, line_end: int) -> None:
        words = text.split()[1:]
        for word in words:
            letter = word[:1].upper()
            if letter == "S":
                try:
                    index = int(float(word[1:]))
                except ValueError:
                    return
                if index < 0:
                    self.end(offset)
                    return
                named = _M486_NAME.search(text)
                if named:
                    self.m486_names[index] = object_name(named.group(1))
                self.begin(self.m486_names.get(index, str(index)), line_end)
                return

    def _move(self, text: str) -> None:
        x, y, extruding = self.x, self.y, False
        for word in text.split()[1:]:
            letter = word[:1].upper()
            try:
                value = float(word[1:])
            except ValueError:
                continue
            if letter == "X":
                x = value if self.absolute else x + value
            elif letter == "Y":
                y = value if self.absolute else y + value
            elif letter == "E":
                delta = value - self.e if self.extrude_absolute else value
                self.e += delta
                extruding = delta > 0
        self.x, self.y = x, y
        if extruding and self.current is not None:
            self.current.extend(x, y)


def scan_file(path: Path) -> list[LabelledObject]:
    """The labelled objects of a G-code file (blocking: run it in a worker thread)."""
    scan = _Scan()
    offset = 0
    with path.open("rb") as handle:
        for raw in handle:
            line_end = offset + len(raw)
            text = raw.decode("utf-8", "replace").strip()
            if text.startswith(";"):
                if "object" in text:
                    scan.comment(text[1:], offset, line_end)
            elif text:
                scan.command(text.partition(";")[0].strip() or text, offset, line_end)
            offset = line_end
    scan.end(offset)
    return list(scan.objects.values())


class ExcludeObjects:
    """The `exclude_object` state of the current job: objects, excluded ones, current one."""

    def __init__(self) -> None:
        self.objects: list[LabelledObject] = []
        self.excluded: list[str] = []
        self._starts: list[int] = []
        self._regions: list[tuple[int, int, str]] = []
        self.version = 0
        self._absolute_extrude = True

    def load(self, objects: list[LabelledObject]) -> None:
        """A new job: these are its objects (none excluded yet)."""
        self.objects = objects
        self.excluded = []
        self._regions = sorted((start, end, obj.name) for obj in objects
                               for start, end in obj.regions)
        self._starts = [start for start, _end, _name in self._regions]
        self.version += 1

    def clear(self) -> None:
        """No job: no objects."""
        self.load([])

    def object_at(self, offset: int) -> str | None:
        """The object whose lines contain the file byte `offset` (None: between objects)."""
        index = bisect.bisect_right(self._starts, offset) - 1
        if index < 0:
            return None
        start, end, name = self._regions[index]
        return name if start <= offset < end else None

    def names(self) -> list[str]:
        """Every object name."""
        return [obj.name for obj in self.objects]

    def exclude(self, name: str) -> bool:
        """Exclude an object by name (or M486 index); False when there is no such object."""
        name = object_name(name)
        if name not in self.names():
            if name.isdigit() and int(name) < len(self.objects):
                name = self.objects[int(name)].name
            else:
                return False
        if name not in self.excluded:
            self.excluded.append(name)
            self.version += 1
        return True

    def include(self, name: str) -> None:
        """Print an excluded object again (`M486 U`)."""
        name = object_name(name)
        if name in self.excluded:
            self.excluded.remove(name)
            self.version += 1

    def filter(self, end_offset: int, line: str) -> str | None:
        """The line to stream for the file line ending at `end_offset` (None: skip it).

        Lines of excluded objects are skipped, except that their extrusions become `G92 E`
        (so absolute E stays in step), their Z moves stay (layer changes) and non-motion
        commands pass.
        """
        head = line[:3].upper()
        if head in ("M82", "M83", "G90", "G91"):
            self._absolute_extrude = head in ("M82", "G90")
        if not self.excluded:
            return line
        name = self.object_at(end_offset - 1)
        if name is None or name not in self.excluded:
            return line
        words = line.split()
        code = words[0].upper()
        if code not in ("G0", "G1", "G2", "G3"):
            return line
        z = [w for w in words[1:] if w[:1] in "Zz"]
        if z:
            return "G0 " + z[0]
        e = [w for w in words[1:] if w[:1] in "Ee"]
        if e and self._absolute_extrude:
            return "G92 E" + e[0][1:]
        return None

    def status(self, offset: int | None) -> dict[str, Any]:
        """The `exclude_object` fields for a job at file byte `offset`."""
        return {
            "objects": [obj.status() for obj in self.objects],
            "excluded_objects": list(self.excluded),
            "current_object": self.object_at(offset) if offset is not None else None,
        }
