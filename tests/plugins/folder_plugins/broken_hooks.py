"""A plugin that raises in every hook: it must hurt nobody but itself."""

from __future__ import annotations

from typing import Any

from moonlite.plugins import (
    EventHandlerPlugin,
    ProgressPlugin,
    SettingsPlugin,
    ShutdownPlugin,
    SimpleApiPlugin,
    StartupPlugin,
)


class BrokenHooks(StartupPlugin, ShutdownPlugin, SettingsPlugin, EventHandlerPlugin,
                  ProgressPlugin, SimpleApiPlugin):
    """Every hook fails."""

    def get_sorting_key(self, context: str | None = None) -> int | None:
        """Fails too: treated as no preference."""
        raise RuntimeError("broken sorting key")

    def initialize(self) -> None:
        """Fails."""
        raise RuntimeError("broken initialize")

    def get_settings_defaults(self) -> dict[str, Any]:
        """Works, so that settings exist."""
        return {"value": 1}

    def on_settings_initialized(self) -> None:
        """Fails."""
        raise RuntimeError("broken settings")

    def on_startup(self, host: str, port: int) -> None:
        """Fails."""
        raise RuntimeError("broken startup")

    async def on_after_startup(self) -> None:
        """Fails asynchronously."""
        raise RuntimeError("broken after startup")

    def on_event(self, event: str, payload: dict[str, Any]) -> None:
        """Fails on every event."""
        raise RuntimeError(f"broken on {event}")

    def on_print_progress(self, storage: str, path: str, progress: int) -> None:
        """Fails."""
        raise RuntimeError("broken progress")

    def on_api_get(self, request: object) -> Any:
        """Fails: the caller gets a 500, the server carries on."""
        raise RuntimeError("broken api")

    def on_shutdown(self) -> None:
        """Fails."""
        raise RuntimeError("broken shutdown")


__plugin_implementation__ = BrokenHooks()
