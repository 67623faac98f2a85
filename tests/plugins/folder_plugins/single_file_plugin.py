"""A single-file plugin in the data folder's plugins/ (a StartupPlugin)."""

from __future__ import annotations

from moonlite.plugins import StartupPlugin


class SingleFile(StartupPlugin):
    """Counts its start-ups."""

    def __init__(self) -> None:
        self.started = 0

    def on_startup(self, host: str, port: int) -> None:
        """Count."""
        self.started += 1


__plugin_name__ = "Single file"
__plugin_version__ = "0.3"
__plugin_implementation__ = SingleFile()
