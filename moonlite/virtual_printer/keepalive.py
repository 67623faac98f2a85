"""Marlin's host keepalive: `echo:busy: <state>` every interval while a command blocks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Keepalive:
    """Tracks the busy state; `run()` prints the busy line when it has lasted an interval.

    Entering and leaving the busy state is cheap (two attribute writes), so every command can
    do it; the task only wakes when a busy stretch starts and when its interval is due.
    """

    def __init__(self, emit: Callable[[str], None], interval: float, scale: float) -> None:
        self._emit = emit
        self.interval = interval  # seconds, M113 S
        self._scale = scale
        self.state: str | None = None
        self._next = 0.0
        self._wake = asyncio.Event()

    def set(self, state: str | None) -> None:
        """Enter a busy state ("processing", "paused for user") or leave it (None)."""
        if state is not None and self.state is None:
            self._next = time.monotonic() + self.interval * self._scale
            self._wake.set()
        self.state = state

    async def run(self) -> None:
        """Print busy lines until cancelled."""
        while True:
            interval = self.interval * self._scale
            if self.state is None or interval <= 0:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = self._next - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            self._emit(f"echo:busy: {self.state}")
            self._next = time.monotonic() + interval
