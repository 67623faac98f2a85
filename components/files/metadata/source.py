"""The head and tail of a G-code file, where its commands start and end, and its comment blocks."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

READ_SIZE = 1024 * 1024  # like Moonraker: only the first and last MiB of a file are read

# `; key = value` lines (PrusaSlicer and forks, Slic3r, KISSlicer, Cura's extra lines)
_KEY_VALUE = re.compile(rb"^;[ \t]*([A-Za-z_][^=\n]*?)[ \t]*=[ \t]*([^\n]*?)[ \t\r]*$", re.M)
_HEADER_FIRST_COMMAND = re.compile(rb"\n[GM]\d")
_COMMAND_LINE = re.compile(rb"\n[ \t]*[GM]\d")
_LINE_COMMAND = re.compile(rb"[ \t]*[GM]\d")
THUMBNAIL_BEGIN = re.compile(rb"; (thumbnail(?:_[A-Za-z]+)?) begin")


class GcodeSource:
    """What extraction reads of one file: the first and last MiB, and views derived from them.

    `head` is the first MiB and `tail` the last MiB (for a file of at most 2 MiB both are the
    whole file, read once). `tail_offset` is the file offset of `tail[0]`.
    """

    def __init__(self, head: bytes, tail: bytes, size: int, tail_offset: int) -> None:
        self.head = head
        self.tail = tail
        self.size = size
        self.tail_offset = tail_offset
        self.whole = tail_offset == 0 and len(tail) == size

    @classmethod
    def read(cls, path: Path) -> GcodeSource:
        """Read the head and tail of `path` (the whole file when it is at most 2 MiB)."""
        with open(path, "rb") as file:
            size = file.seek(0, 2)
            file.seek(0)
            if size <= 2 * READ_SIZE:
                data = file.read()
                return cls(data, data, len(data), 0)
            head = file.read(READ_SIZE)
            file.seek(size - READ_SIZE)
            tail = file.read()
            return cls(head, tail, size, size - len(tail))

    @classmethod
    def from_bytes(cls, data: bytes) -> GcodeSource:
        """A source over in-memory G-code (tests and callers that already hold the bytes)."""
        if len(data) <= 2 * READ_SIZE:
            return cls(data, data, len(data), 0)
        return cls(data[:READ_SIZE], data[-READ_SIZE:], len(data), len(data) - READ_SIZE)

    @cached_property
    def gcode_start_byte(self) -> int | None:
        """Offset of the line break that ends the comment header (Moonraker's value).

        That is one byte before the first `G`/`M` command line; 0 when the file starts with one.
        """
        if _LINE_COMMAND.match(self.head):
            return 0
        match = _HEADER_FIRST_COMMAND.search(self.head)
        return None if match is None else match.start()

    @cached_property
    def _last_command_end(self) -> int | None:
        """Index in `tail` just past the line break of the last `G`/`M` command line."""
        tail = self.tail
        stop = len(tail)
        window = 4096
        # search backwards in growing windows (each cut at a line break): the footer after
        # the last command is usually a few KiB, and a window with no command costs no Python
        while stop > 0:
            start = tail.rfind(b"\n", 0, max(0, stop - window))
            start = max(start, 0)
            last = None
            for last in _COMMAND_LINE.finditer(tail, start, stop):  # noqa: B007
                pass
            if last is not None:
                line_start = last.start() + 1
            elif start == 0 and self.tail_offset == 0 and _LINE_COMMAND.match(tail):
                line_start = 0
            else:
                if start == 0:
                    return None
                stop = start + 1
                window = min(window * 4, 256 * 1024)
                continue
            end = tail.find(b"\n", line_start)
            return len(tail) if end < 0 else end + 1
        return None

    @cached_property
    def gcode_end_byte(self) -> int | None:
        """File offset just past the last `G`/`M` command line (Moonraker's value)."""
        end = self._last_command_end
        return None if end is None else self.tail_offset + end

    @cached_property
    def header(self) -> bytes:
        """The comments before the first command (all of the head when there is no command)."""
        start = self.gcode_start_byte
        return self.head if start is None else self.head[:start]

    @cached_property
    def footer(self) -> bytes:
        """The comments after the last command (empty when there is no command)."""
        end = self._last_command_end
        return b"" if end is None else self.tail[end:]

    @cached_property
    def header_text(self) -> bytes:
        """The header without its thumbnail blocks (kilobytes of base64 nobody needs to scan)."""
        header = self.header
        return strip_thumbnails(header) if b"thumbnail" in header else header

    @cached_property
    def header_settings(self) -> dict[bytes, bytes]:
        """`; key = value` pairs of the header (thumbnail blocks skipped); first one wins."""
        return key_values(self.header_text)

    @cached_property
    def footer_settings(self) -> dict[bytes, bytes]:
        """`; key = value` pairs of the footer; first one wins."""
        return key_values(self.footer)

    def head_window(self, limit: int = 128 * 1024) -> bytes:
        """The header plus the first `limit` bytes of commands (start G-code lives there)."""
        start = self.gcode_start_byte or 0
        return self.head[: start + limit]

    def tail_window(self, limit: int = 256 * 1024) -> bytes:
        """The last `limit` bytes of the tail up to the end of the last command."""
        end = self._last_command_end
        end = len(self.tail) if end is None else end
        return self.tail[max(0, end - limit) : end]


def key_values(block: bytes) -> dict[bytes, bytes]:
    """Parse `; key = value` comment lines of a block into a dict (the first value wins)."""
    found: dict[bytes, bytes] = {}
    for match in _KEY_VALUE.finditer(block):
        found.setdefault(match.group(1), match.group(2))
    return found


def strip_thumbnails(block: bytes) -> bytes:
    """`block` without its `; thumbnail begin` ... `; thumbnail end` blocks."""
    parts: list[bytes] = []
    position = 0
    while begin := THUMBNAIL_BEGIN.search(block, position):
        end = block.find(b"; " + begin.group(1) + b" end", begin.end())
        if end < 0:
            break
        parts.append(block[position : begin.start()])
        position = end
    parts.append(block[position:])
    return b"".join(parts)
