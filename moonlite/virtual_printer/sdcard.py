"""The SD card: a host folder seen through FAT 8.3 names, file selection, reading and writing."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_VALID_83 = re.compile(r"^[A-Z0-9_$~!#%&'(){}^@`-]{1,8}(\.[A-Z0-9_$~!#%&'(){}^@`-]{1,3})?$")
_CLEAN = re.compile(r"[^A-Z0-9_$~!#%&'(){}^@`-]")


@dataclass(frozen=True)
class SdEntry:
    """A file on the card: its 8.3 path, long path, size and FAT timestamp."""

    short: str
    long: str
    size: int
    fat_time: int
    path: Path


def fat_timestamp(mtime: float) -> int:
    """(FAT date << 16) | FAT time of a POSIX timestamp."""
    t = time.localtime(mtime)
    year = max(t.tm_year, 1980)
    date = ((year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    clock = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    return (date << 16) | clock


def short_names(names: list[str]) -> dict[str, str]:
    """8.3 names for the entries of one directory (`~1`, `~2`, ... on collisions)."""
    result: dict[str, str] = {}
    used: set[str] = set()
    for name in sorted(names):
        upper = name.upper()
        if _VALID_83.match(upper) and upper not in used:
            result[name] = upper
            used.add(upper)
            continue
        stem, dot, ext = name.rpartition(".")
        if not dot:
            stem, ext = name, ""
        base = _CLEAN.sub("", stem.upper().replace(" ", ""))[:6] or "FILE"
        ext3 = _CLEAN.sub("", ext.upper())[:3]
        n = 1
        while True:
            candidate = f"{base}~{n}" + (f".{ext3}" if ext3 else "")
            if candidate not in used:
                break
            n += 1
        result[name] = candidate
        used.add(candidate)
    return result


class SdCard:
    """A folder playing Marlin's SD card (`None` = no card inserted)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root.resolve() if root is not None else None
        self.mounted = self.root is not None and self.root.is_dir()
        self.selected: SdEntry | None = None
        self.file: BinaryIO | None = None
        self.position = 0
        self.printing = False
        self.writer: BinaryIO | None = None

    def entries(self) -> list[SdEntry]:
        """Every visible file (extension starting with G), recursively, in listing order."""
        if not self.mounted or self.root is None:
            return []
        found: list[SdEntry] = []
        self._walk(self.root, "", "", found)
        return found

    def _walk(self, folder: Path, short_prefix: str, long_prefix: str, out: list[SdEntry]) -> None:
        children = [p for p in folder.iterdir() if not p.name.startswith(".")]
        shorts = short_names([p.name for p in children])
        for child in sorted(children, key=lambda p: shorts[p.name]):
            short = shorts[child.name]
            if child.is_dir():
                self._walk(child, f"{short_prefix}{short}/", f"{long_prefix}{child.name}/", out)
            elif child.is_file() and short.rpartition(".")[2].startswith("G") and "." in short:
                stat = child.stat()
                out.append(
                    SdEntry(
                        f"{short_prefix}{short}",
                        f"{long_prefix}{child.name}",
                        stat.st_size,
                        fat_timestamp(stat.st_mtime),
                        child,
                    )
                )

    def find(self, name: str) -> SdEntry | None:
        """The entry named by its 8.3 path (case-insensitive) or its long path."""
        wanted = name.strip().lstrip("/")
        for entry in self.entries():
            if entry.short.upper() == wanted.upper() or entry.long == wanted:
                return entry
        return None

    def select(self, entry: SdEntry) -> None:
        """Open `entry` for printing from its start (closes any previous file)."""
        self.close_file()
        self.selected = entry
        self.file = entry.path.open("rb")  # kept open while selected
        self.position = 0

    def seek(self, position: int) -> None:
        """Set the read position (M26 S)."""
        if self.file is not None and self.selected is not None:
            self.position = max(0, min(position, self.selected.size))
            self.file.seek(self.position)

    def read_command(self) -> str | None:
        """The next non-empty command of the selected file (comment-stripped), None at EOF."""
        if self.file is None:
            return None
        while True:
            raw = self.file.readline()
            if not raw:
                return None
            self.position += len(raw)
            text = raw.split(b";", 1)[0].strip()
            if text:
                return text.decode("latin-1")

    def close_file(self) -> None:
        """Close the selected file and stop printing it."""
        if self.file is not None:
            self.file.close()
        self.file = None
        self.selected = None
        self.printing = False
        self.position = 0

    def resolve_new(self, name: str) -> Path | None:
        """Where a new file `name` (M28) goes, or None when it would leave the card."""
        if self.root is None or not self.mounted:
            return None
        target = (self.root / name.strip().lstrip("/")).resolve()
        if target != self.root and self.root not in target.parents:
            return None
        return target

    def close_writer(self) -> None:
        """Finish an M28 upload."""
        if self.writer is not None:
            self.writer.close()
        self.writer = None
