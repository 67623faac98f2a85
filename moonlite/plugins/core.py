"""The base of every plugin: identity, data folder, logger and the injected host services."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from moonlite.components.analysis.component import Analysis
    from moonlite.components.files import FileManager
    from moonlite.components.printer import PrinterComponent
    from moonlite.events import EventBus
    from moonlite.plugins.manager import PluginManager
    from moonlite.plugins.settings import PluginSettings
    from moonlite.plugins.slicing import SlicingManager
    from moonlite.server import Host

F = TypeVar("F", bound=Callable[..., Any])


def blocking(func: F) -> F:
    """Mark a plain (non-async) hook as blocking: moonlite runs it in a worker thread.

    Unmarked plain hooks are called on the event loop and must return quickly.
    """
    func.__moonlite_blocking__ = True  # type: ignore[attr-defined]
    return func


class MoonlitePlugin:
    """The parent of every plugin mixin (OctoPrint's `OctoPrintPlugin`).

    The plugin manager injects the attributes below before `initialize` is called. Services
    that belong to components (`_printer`, `_file_manager`, ...) are looked up when read, so a
    plugin always sees the component that is loaded now (or None when it is not).
    """

    _identifier: str = ""
    _plugin_name: str = ""
    _plugin_version: str | None = None
    _plugin_description: str = ""
    _basefolder: str = ""
    _data_folder: str = ""
    _logger: logging.Logger = logging.getLogger("moonlite.plugins")
    _host: Host | None = None
    _plugin_manager: PluginManager | None = None
    _settings: PluginSettings | None = None
    _slicing_manager: SlicingManager | None = None

    def initialize(self) -> None:
        """Called once everything is injected, before any other hook."""

    def get_plugin_data_folder(self) -> str:
        """The plugin's own data folder (created if missing)."""
        Path(self._data_folder).mkdir(parents=True, exist_ok=True)
        return self._data_folder

    def on_plugin_pending_uninstall(self) -> None:
        """Called before the plugin is uninstalled through moonlite (not used yet)."""

    # -- injected services ----------------------------------------------------------------

    @property
    def _event_bus(self) -> EventBus | None:
        """The host's event bus (`fire`, `subscribe`)."""
        return self._host.events if self._host is not None else None

    def _component(self, name: str) -> Any:
        return self._host.get_component(name) if self._host is not None else None

    @property
    def _printer(self) -> PrinterComponent | None:
        """The printer component (OctoPrint's PrinterInterface), or None when not loaded."""
        return cast("PrinterComponent | None", self._component("printer"))

    @property
    def _file_manager(self) -> FileManager | None:
        """The files component, or None when not loaded."""
        return cast("FileManager | None", self._component("file_manager"))

    @property
    def _printer_profile_manager(self) -> Any:
        """Printer profiles: the printer component's profile manager once it offers one."""
        return getattr(self._printer, "profile_manager", None)

    @property
    def _analysis_queue(self) -> Analysis | None:
        """The analysis component, or None when not loaded."""
        return cast("Analysis | None", self._component("analysis"))


#: OctoPrint's name for the base class
OctoPrintPlugin = MoonlitePlugin


class SortablePlugin(MoonlitePlugin):
    """A plugin whose hooks run in an order it can influence (`get_sorting_key`)."""

    def get_sorting_key(self, context: str | None = None) -> int | None:
        """The sort key for `context` (e.g. "StartupPlugin.on_startup"); None: no preference.

        Lower keys run first; None sorts after every number; ties go by identifier.
        """
        return None


class RestartNeedingPlugin(MoonlitePlugin):
    """Enabling or disabling the plugin takes effect after a restart."""


class ReloadNeedingPlugin(MoonlitePlugin):
    """Enabling or disabling the plugin needs the web page to be reloaded."""
