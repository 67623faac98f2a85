"""A plugin with a `@blocking` hook: it runs in a worker thread and may block."""

from __future__ import annotations

import threading
from typing import Any

from moonlite.plugins import SettingsPlugin, StartupPlugin, blocking


class BlockingHooks(StartupPlugin, SettingsPlugin):
    """Saves a setting from a worker thread at start-up."""

    def __init__(self) -> None:
        self.startup_thread: str | None = None

    def get_settings_defaults(self) -> dict[str, Any]:
        """One setting."""
        return {"seen_thread": None}

    @blocking
    def on_startup(self, host: str, port: int) -> None:
        """Blocking work is fine here: not on the event loop."""
        assert self._settings is not None
        self.startup_thread = threading.current_thread().name
        self._settings.set(["seen_thread"], self.startup_thread)
        self._settings.save()  # from a thread: returns once committed


__plugin_implementation__ = BlockingHooks()
