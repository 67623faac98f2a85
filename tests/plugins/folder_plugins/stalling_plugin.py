"""A plugin that never finishes some hooks: it must stall nobody but itself."""

from __future__ import annotations

import asyncio
from typing import Any

from moonlite.plugins import EventHandlerPlugin, StartupPlugin


class Stalling(StartupPlugin, EventHandlerPlugin):
    """on_startup never returns; on_event hangs on "plugin_test_stall"."""

    def __init__(self) -> None:
        self.after_stall: list[str] = []

    async def on_startup(self, host: str, port: int) -> None:
        """Hangs: abandoned after [plugins] hook_timeout."""
        await asyncio.Event().wait()

    async def on_event(self, event: str, payload: dict[str, Any]) -> None:
        """Hangs on one event: only this plugin's later events wait."""
        if event == "plugin_test_stall":
            await asyncio.Event().wait()
        self.after_stall.append(event)


__plugin_implementation__ = Stalling()
