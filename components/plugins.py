"""`[plugins]`: loads moonlite plugins (seed 000 mixins), runs their hooks, serves their APIs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import Field, field_validator

from moonlite.component import Component
from moonlite.config import SectionModel
from moonlite.events import Events, on_event
from moonlite.plugins import SettingsPlugin, features
from moonlite.plugins.manager import PluginManager
from moonlite.plugins.routes import PluginRoutes
from moonlite.rpc import ApiError, Request, api


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.replace(",", "\n").splitlines() if v.strip()]
    return list(value or [])


class PluginsConfig(SectionModel):
    """The `[plugins]` section."""

    #: identifiers of plugins not to load
    disabled: list[str] = Field(default_factory=list)
    #: user names (besides the API key and trusted clients) that count as admins
    admin_users: list[str] = Field(default_factory=list)
    #: load plugins from `<data>/plugins/`
    load_folder: bool = True
    #: load plugins installed with a `moonlite.plugins` entry point
    load_entry_points: bool = True
    #: load the plugins that ship with moonlite
    load_bundled: bool = True
    #: seconds a start-up/shutdown/settings hook may take before it is abandoned
    hook_timeout: float = Field(30.0, gt=0)

    @field_validator("disabled", "admin_users", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> list[str]:
        return _names(value)


class Plugins(Component):
    """The plugin system: discovery at load (routes must exist before the app starts),
    hooks during the lifespan."""

    name = "plugins"
    Config = PluginsConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg: PluginsConfig = self.config
        self.manager = PluginManager(
            self.host, folder=self.host.paths.data / "plugins" if cfg.load_folder else None,
            disabled=set(cfg.disabled), admin_users=set(cfg.admin_users),
            hook_timeout=cfg.hook_timeout, bundled=cfg.load_bundled,
            entry_points=cfg.load_entry_points)
        self.manager.load()
        self._web = PluginRoutes(self.manager)
        self._after_startup: asyncio.Task[None] | None = None

    def routes(self) -> list[Any]:
        """The plugins' aiohttp routes (added by the host before the app starts)."""
        return self._web.routes()

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Start the plugins; on_after_startup once listening; shut them down at the end."""
        server = self.host.server_config
        await self.manager.start(server.host, server.port)
        stop_following = self._follow_print_progress()
        self._after_startup = asyncio.get_running_loop().create_task(
            self.manager.after_startup())
        try:
            yield
        finally:
            if stop_following is not None:
                stop_following()
            if not self._after_startup.done():
                self._after_startup.cancel()
            await self.manager.shutdown()
            features.unregister_webcams(self.manager)
            await self.manager.stop()

    def notify_print_progress(self, storage: str, path: str, progress: float) -> None:
        """Report print progress (0..100) to ProgressPlugins (deduplicated to 1% steps)."""
        self.manager.notify_print_progress(storage, path, progress)

    def _follow_print_progress(self) -> Callable[[], None] | None:
        """Feed ProgressPlugins from the printer's objects: `virtual_sdcard.progress` of
        the file in `print_stats.filename` (the printer needs to know nothing about plugins)."""
        status = getattr(self.host.get_component("printer"), "status", None)
        listeners = getattr(status, "listeners", None)
        if status is None or not isinstance(listeners, list):
            return None
        current = {"filename": str(status.get("print_stats", "filename", "") or "")}

        def on_changes(changes: dict[str, dict[str, Any]]) -> None:
            try:
                stats = changes.get("print_stats", {})
                if "filename" in stats:
                    current["filename"] = str(stats["filename"] or "")
                progress = changes.get("virtual_sdcard", {}).get("progress")
                if progress is not None and current["filename"]:
                    self.manager.notify_print_progress("local", current["filename"],
                                                       float(progress) * 100.0)
            except Exception:
                self.log.exception("following print progress failed")

        listeners.append(on_changes)

        def stop() -> None:
            if on_changes in listeners:
                listeners.remove(on_changes)

        return stop

    @on_event(Events.SHUTDOWN)
    async def _on_shutdown(self, event: str, payload: dict[str, Any]) -> None:
        # runs while the other components are still up (the lifespan exit is the fallback)
        await self.manager.shutdown()

    def summary(self) -> dict[str, list[str]]:
        """Identifiers of loaded and failed plugins (for `server.info`)."""
        return {"plugins": sorted(self.manager.plugins),
                "failed_plugins": [i.identifier for i in self.manager.failed]}

    # -- API ------------------------------------------------------------------------------

    @api("server.plugins.list")
    async def list_plugins(self) -> dict[str, Any]:
        """Loaded plugins (name, version, mixins, hook errors) and failed ones (reason)."""
        return {"plugins": [i.describe() for _, i in sorted(self.manager.plugins.items())],
                "failed": [i.describe() for i in self.manager.failed]}

    @api("server.plugins.get_settings", auth=False)
    async def get_settings(self, request: Request, plugin: str | None = None
                           ) -> dict[str, Any]:
        """A plugin's settings (or every plugin's); restricted paths are null unless the
        caller may see them."""
        role = self.manager.role_of(request.user)
        if plugin is not None:
            impl = features.settings_plugin(self.manager, plugin)
            return {"plugin": plugin,
                    "settings": await features.settings_view(self.manager, impl, role)}
        out: dict[str, Any] = {}
        for impl in self.manager.implementations(SettingsPlugin):
            try:
                out[impl._identifier] = await features.settings_view(self.manager, impl, role)
            except ApiError:
                continue
        return {"plugins": out}

    @api("server.plugins.post_settings", "POST")
    async def post_settings(self, request: Request, plugin: str,
                            settings: dict[str, Any]) -> dict[str, Any]:
        """Change a plugin's settings (committed before the answer; fires SettingsUpdated)."""
        impl = features.settings_plugin(self.manager, plugin)
        role = self.manager.role_of(request.user)
        view = await features.save_settings(self.manager, impl, settings, role)
        return {"plugin": plugin, "settings": view}

    @api("server.plugins.get_wizards")
    async def get_wizards(self) -> dict[str, Any]:
        """Every wizard: required, ignored, version, details and whether to show it."""
        return {"wizards": await features.wizard_state(self.manager)}

    @api("server.plugins.wizards.finish", "POST")
    async def finish_wizards(self, handled: list[str]) -> dict[str, Any]:
        """Finish the wizard session; `handled` lists the wizards the user went through."""
        return {"handled": await features.wizard_finish(self.manager, handled)}

    @api("server.plugins.get_environment")
    async def get_environment(self) -> dict[str, Any]:
        """The environment handed to EnvironmentDetectionPlugins."""
        return {"environment": self.manager.environment}

    @api("server.plugins.slicing.list")
    async def list_slicers(self) -> dict[str, Any]:
        """Slicers offered by SlicerPlugins, and whether each is configured."""
        return {"slicers": self.manager.slicing.describe()}

    @api("server.plugins.slicing.slice", "POST")
    async def slice(self, slicer: str, source: str, destination: str | None = None,
                    profile: str | None = None,
                    position: dict[str, float] | None = None) -> dict[str, Any]:
        """Start slicing `source` (gcodes-relative); Slicing* events tell the outcome."""
        job = self.manager.slicing.start(slicer, source, destination, profile, position)
        return {"slicer": job.slicer, "source": job.source, "destination": job.destination}

    @api("server.plugins.slicing.cancel", "POST")
    async def cancel_slicing(self, destination: str) -> dict[str, Any]:
        """Cancel the slicing job writing `destination`."""
        if not self.manager.slicing.cancel(destination):
            raise ApiError(f"No slicing job writes {destination}", 404)
        return {"destination": destination, "cancelled": True}


COMPONENT = Plugins
