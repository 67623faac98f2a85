"""SettingsPlugin: defaults, a version-2 migration, preprocessors and restricted paths."""

from __future__ import annotations

from typing import Any

from moonlite.plugins import SettingsPlugin, StartupPlugin


class SettingsDemo(SettingsPlugin, StartupPlugin):
    """Version 1 stored `greeting_text`; version 2 calls it `greeting`."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.migrations: list[tuple[int, int | None]] = []
        self.greeting_at_init: str | None = None

    def initialize(self) -> None:
        """Runs before any settings hook."""
        self.calls.append("initialize")

    def get_settings_defaults(self) -> dict[str, Any]:
        """The settings and their defaults."""
        return {
            "greeting": "hello",
            "name": "world",
            "shout": "quiet please",
            "secrets": {"token": "default-token", "label": "visible"},
            "user_only": "for users",
            "internal": {"key": "never shown"},
        }

    def get_settings_version(self) -> int:
        """The settings format version."""
        return 2

    def get_settings_preprocessors(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """`shout` reads upper-case; `name` is stored trimmed and lower-case."""
        return {"shout": lambda v: str(v).upper()}, {"name": lambda v: str(v).strip().lower()}

    def get_settings_restricted_paths(self) -> dict[str, list[list[str]]]:
        """The token only for admins, `user_only` for logged-in callers, `internal.key`
        never over the API."""
        return {"admin": [["secrets", "token"]], "user": [["user_only"]],
                "never": [["internal", "key"]]}

    def on_settings_migrate(self, target: int, current: int | None) -> None:
        """1 -> 2: rename `greeting_text` to `greeting`."""
        assert self._settings is not None
        self.calls.append("migrate")
        self.migrations.append((target, current))
        if current == 1 and self._settings.has(["greeting_text"]):
            self._settings.set(["greeting"], self._settings.get(["greeting_text"]))
            self._settings.remove(["greeting_text"])

    def on_settings_initialized(self) -> None:
        """The migrated settings are ready."""
        assert self._settings is not None
        self.calls.append("initialized")
        self.greeting_at_init = self._settings.get(["greeting"])

    def on_startup(self, host: str, port: int) -> None:
        """Read a setting at start-up."""
        assert self._settings is not None
        self._logger.info("greeting is %s", self._settings.get(["greeting"]))


__plugin_name__ = "Settings example"
__plugin_version__ = "2.0.0"
__plugin_implementation__ = SettingsDemo()
