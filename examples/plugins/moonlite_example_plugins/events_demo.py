"""EventHandlerPlugin: remembers the events it is told about."""

from __future__ import annotations

import asyncio
from typing import Any

from moonlite.plugins import EventHandlerPlugin


class EventsDemo(EventHandlerPlugin):
    """Keeps the last events (a coroutine handler: it may await without stalling anyone)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._waiters: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []

    async def on_event(self, event: str, payload: dict[str, Any]) -> None:
        """Called for every event on the bus, in order."""
        self.received.append((event, payload))
        del self.received[:-500]
        for name, future in list(self._waiters):
            if name == event and not future.done():
                future.set_result(payload)
                self._waiters.remove((name, future))

    def next_event(self, name: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the payload of the next `name` event this plugin receives."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((name, future))
        return future


__plugin_name__ = "Events example"
__plugin_version__ = "1.0.0"
__plugin_implementation__ = EventsDemo()
