"""Marlin's emergency parser: spots M108/M112/M410/M876 in bytes as they arrive."""

from __future__ import annotations

import re
from collections.abc import Callable

_EOL = re.compile(rb"[\r\n]")
_EMERGENCY = re.compile(rb"^\s*(?:N\s*\d+\s*)?M\s*(108|112|410|876)(?![0-9])(?:\s*S\s*(\d+))?")
_MAX_TRACKED = 32  # Marlin's parser only needs the head of a line


class EmergencyParser:
    """Feeds on raw received bytes and calls `act(code, s_value)` at the end of a line.

    A leading `N<n>` is skipped, so numbered and plain forms both count, as in Marlin.
    """

    def __init__(self, act: Callable[[int, int | None], None]) -> None:
        self._act = act
        self._partial = b""

    def reset(self) -> None:
        """Forget a partly received line."""
        self._partial = b""

    def feed(self, data: bytes) -> None:
        """Scan `data` (any chunking)."""
        parts = _EOL.split(data)
        if len(parts) == 1:
            self._partial = (self._partial + data)[:_MAX_TRACKED]
            return
        parts[0] = self._partial + parts[0]
        self._partial = parts[-1][:_MAX_TRACKED]
        for line in parts[:-1]:
            if b"M" in line:
                match = _EMERGENCY.match(line)
                if match:
                    value = match.group(2)
                    self._act(int(match.group(1)), int(value) if value else None)
