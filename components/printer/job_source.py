"""The lines of a host print: a file read in chunks, each line remembered until acknowledged."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from moonlite.components.printer.gcode_events import parse_params

#: bytes read from the file per worker-thread call
CHUNK = 64 * 1024
_TEMP_CODES = ("M104", "M109", "M140", "M190")

#: (end offset of the file line, command) -> the command to send, or None to skip it
LineFilter = Callable[[int, str], "str | None"]


def apply_temperature_offset(line: str, offsets: dict[str, float], tool: int) -> str:
    """`M104/M109/M140/M190 S<t>` with the heater's offset added (targets of 0 stay off)."""
    code = line[:4].upper()
    if code not in _TEMP_CODES or (len(line) > 4 and line[4].isdigit()):
        return line
    params = parse_params(line[4:])
    target = params.get("S")
    if target is None or target <= 0:
        return line
    key = "bed" if code in ("M140", "M190") else f"tool{int(params.get('T', tool))}"
    offset = offsets.get(key, 0.0)
    if not offset:
        return line
    words = [w for w in line.split() if w[:1] not in "Ss"]
    return " ".join([*words, f"S{target + offset:g}"])


class FileSource:
    """Feeds a stream job: the `prelude` lines, then the file's command lines.

    Comments and blank lines are dropped; `transform` may rewrite or skip each file line.
    Every line handed out is queued in `pending` with the end offset of its file line (0 for
    prelude lines) until the job layer takes it as acknowledged, so progress is the position
    of the last line the printer confirmed, not the last one read.
    """

    def __init__(self, path: Path, prelude: list[str],
                 transform: Callable[[int, str], str | None]) -> None:
        self.path = path
        self.prelude = prelude
        self.transform = transform
        self.pending: collections.deque[tuple[int, str]] = collections.deque()

    def _take(self, offset: int, raw: bytes) -> str | None:
        cut = raw.find(b";")
        text = (raw[:cut] if cut >= 0 else raw).strip()
        if not text:
            return None
        line = self.transform(offset, text.decode("utf-8", "replace"))
        if line:
            self.pending.append((offset, line))
        return line or None

    async def lines(self) -> AsyncIterator[str]:
        """The command lines, read in `CHUNK`-sized pieces in a worker thread."""
        for line in self.prelude:
            self.pending.append((0, line))
            yield line
        handle = await asyncio.to_thread(self.path.open, "rb")
        try:
            offset = 0
            rest = b""
            while True:
                chunk = await asyncio.to_thread(handle.read, CHUNK)
                if not chunk:
                    break
                pieces = (rest + chunk).split(b"\n")
                rest = pieces.pop()
                for raw in pieces:
                    offset += len(raw) + 1
                    taken = self._take(offset, raw)
                    if taken is not None:
                        yield taken
            if rest:
                taken = self._take(offset + len(rest), rest)
                if taken is not None:
                    yield taken
        finally:
            await asyncio.to_thread(handle.close)
