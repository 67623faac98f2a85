"""StartupPlugin and ShutdownPlugin: two plugins whose sorting keys decide the hook order."""

from __future__ import annotations

from moonlite.plugins import ShutdownPlugin, StartupPlugin
from moonlite_example_plugins import TRACE_EVENT


class LifecycleA(StartupPlugin, ShutdownPlugin):
    """Starts after B (key 50 > 5) and shuts down before B (key 1, B has none)."""

    __plugin_name__ = "Lifecycle example A"
    __plugin_version__ = "1.0.0"

    SORTING = {"StartupPlugin.on_startup": 50, "StartupPlugin.on_after_startup": 50,
               "ShutdownPlugin.on_shutdown": 1}

    def get_sorting_key(self, context: str | None = None) -> int | None:
        """Lower runs first; None runs after every number."""
        return self.SORTING.get(context or "")

    def _trace(self, hook: str, **extra: object) -> None:
        # custom events show up on the bus (and in its history) like moonlite's own
        assert self._event_bus is not None
        self._event_bus.fire(TRACE_EVENT, {"plugin": self._identifier, "hook": hook, **extra})

    def on_startup(self, host: str, port: int) -> None:
        """Plain hooks run on the event loop: keep them quick."""
        self._trace("on_startup", host=host, port=port)

    async def on_after_startup(self) -> None:
        """Hooks may be coroutines too."""
        self._logger.info("%s is up", self._plugin_name)
        self._trace("on_after_startup")

    def on_shutdown(self) -> None:
        """Called while the other components still run."""
        self._trace("on_shutdown")


class LifecycleB(LifecycleA):
    """Starts first (key 5); shuts down last (no key)."""

    __plugin_name__ = "Lifecycle example B"
    SORTING = {"StartupPlugin.on_startup": 5, "StartupPlugin.on_after_startup": 5}
