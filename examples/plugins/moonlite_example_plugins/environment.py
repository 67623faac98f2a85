"""EnvironmentDetectionPlugin: sees the OS/Python/hardware moonlite runs on."""

from __future__ import annotations

from typing import Any

from moonlite.plugins import EnvironmentDetectionPlugin


class EnvironmentDemo(EnvironmentDetectionPlugin):
    """Remembers the environment and adds its own bit to it."""

    def __init__(self) -> None:
        self.environment: dict[str, Any] | None = None

    def get_additional_environment(self) -> dict[str, Any]:
        """Shown under environment["plugins"]["example_environment"]."""
        return {"answer": 42}

    def on_environment_detected(self, environment: dict[str, Any]) -> None:
        """Called once at start-up."""
        self.environment = environment


__plugin_name__ = "Environment example"
__plugin_version__ = "1.0.0"
__plugin_implementation__ = EnvironmentDemo()
