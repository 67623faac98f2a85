"""EventHandlerPlugin: remembers the events it is told about."""

from __future__ import annotations

from typing import Any

from moonlite.plugins import EventHandlerPlugin


class EventsDemo(EventHandlerPlugin):
    """Keeps the last events (a coroutine handler: it may await without stalling anyone)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []

    async def on_event(self, event: str, payload: dict[str, Any]) -> None:
        """Called for every event on the bus, in order."""
        self.received.append((event, payload))
        del self.received[:-500]


__plugin_name__ = "Events example"
__plugin_version__ = "1.0.0"
__plugin_implementation__ = EventsDemo()
