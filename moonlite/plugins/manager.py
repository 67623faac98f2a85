"""The plugin manager: loads plugins, injects services, calls hooks in order and in isolation."""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from moonlite.auth import API_KEY_USER, TRUSTED_USER
from moonlite.events import ALL
from moonlite.plugins import features
from moonlite.plugins.core import MoonlitePlugin, SortablePlugin
from moonlite.plugins.loader import PluginInfo, basefolder, discover, instantiate
from moonlite.plugins.settings import ADMIN, ANONYMOUS, USER, PluginSettings, SettingsPlugin
from moonlite.plugins.slicing import SlicingManager
from moonlite.plugins.types import (
    EventHandlerPlugin,
    ProgressPlugin,
    ShutdownPlugin,
    StartupPlugin,
)
from moonlite.rpc import ApiError

if TYPE_CHECKING:
    from moonlite.server import Host

log = logging.getLogger(__name__)
P = TypeVar("P")
#: calls queued for one plugin beyond this are dropped (oldest first)
ORDERED_QUEUE_SIZE = 1000


class _OrderedCalls:
    """Hook calls for one plugin, run one after the other in the order they were queued."""

    def __init__(self, manager: PluginManager, plugin: MoonlitePlugin) -> None:
        self.manager = manager
        self.plugin = plugin
        self.queue: collections.deque[tuple[str, tuple[Any, ...]]] = collections.deque(
            maxlen=ORDERED_QUEUE_SIZE)
        self.task: asyncio.Task[None] | None = None

    def put(self, hook: str, args: tuple[Any, ...]) -> None:
        self.queue.append((hook, args))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self.queue:
            hook, args = self.queue.popleft()
            await self.manager.call(self.plugin, hook, *args)


class PluginManager:
    """Every plugin of one host (OctoPrint's `_plugin_manager`)."""

    def __init__(self, host: Host, *, folder: Path | None = None,
                 disabled: set[str] | None = None, admin_users: set[str] | None = None,
                 hook_timeout: float = 30.0, bundled: bool = True,
                 entry_points: bool = True) -> None:
        self.host = host
        self.folder = folder
        self.disabled = disabled or set()
        self.admin_users = admin_users or set()
        self.hook_timeout = hook_timeout
        self.bundled = bundled
        self.entry_points = entry_points
        self.plugins: dict[str, PluginInfo] = {}
        self.failed: list[PluginInfo] = []
        self.slicing = SlicingManager(self)
        self.after_startup_done = asyncio.Event()
        self.shutdown_done = False
        self.environment: dict[str, Any] = {}
        self._progress_last: dict[tuple[str, str], int] = {}
        self._ordered: dict[str, _OrderedCalls] = {}
        self._unsubscribe: list[Callable[[], None]] = []

    # -- loading --------------------------------------------------------------------------

    def load(self) -> None:
        """Find, import, instantiate and inject every plugin (no hook runs yet)."""
        entries, refused = discover(self.folder, self.disabled, bundled=self.bundled,
                                    entry_points=self.entry_points)
        self.failed.extend(refused)
        for entry in entries:
            info = instantiate(entry)
            if info.implementation is None:
                self.failed.append(info)
                continue
            self.plugins[info.identifier] = info  # before injecting: errors are recorded
            try:
                self._inject(info)
            except Exception as exc:
                log.exception("plugin %s could not be set up", info.identifier)
                self.fail(info, f"set-up failed: {exc}")
        log.info("plugins loaded: %s; failed: %s", ", ".join(self.plugins) or "none",
                 ", ".join(i.identifier for i in self.failed) or "none")

    def _inject(self, info: PluginInfo) -> None:
        impl = info.implementation
        assert impl is not None
        impl._identifier = info.identifier
        impl._plugin_name = info.name
        impl._plugin_version = info.version
        impl._plugin_description = info.description
        impl._basefolder = basefolder(impl)
        impl._data_folder = str(self.host.paths.data / "plugin_data" / info.identifier)
        impl._logger = logging.getLogger(f"moonlite.plugins.{info.identifier}")
        impl._host = self.host
        impl._plugin_manager = self
        impl._slicing_manager = self.slicing
        if isinstance(impl, SettingsPlugin):
            impl._settings = features.make_settings(self, impl)

    def fail(self, info: PluginInfo, reason: str) -> None:
        """Take a plugin out of service (its routes answer 503)."""
        info.error = reason
        self.plugins.pop(info.identifier, None)
        if info not in self.failed:
            self.failed.append(info)

    # -- looking up -----------------------------------------------------------------------

    def implementations(self, cls: type[P]) -> list[P]:
        """Running plugins that include mixin `cls`, by identifier."""
        return [info.implementation for _, info in sorted(self.plugins.items())
                if info.loaded and isinstance(info.implementation, cls)]

    def get_plugin(self, identifier: str) -> MoonlitePlugin | None:
        """The running implementation of `identifier`."""
        info = self.plugins.get(identifier)
        return info.implementation if info is not None and info.loaded else None

    def get_plugin_info(self, identifier: str) -> PluginInfo | None:
        """What the manager knows about `identifier` (running or failed)."""
        return self.plugins.get(identifier) or next(
            (i for i in self.failed if i.identifier == identifier), None)

    def sorted_for(self, cls: type[P], context: str) -> list[P]:
        """Implementations of `cls` in the order of their sorting keys for `context`."""

        def key(impl: P) -> tuple[int, int, str]:
            assert isinstance(impl, MoonlitePlugin)
            sort_key = None
            if isinstance(impl, SortablePlugin):
                sort_key = self.call_sync(impl, "get_sorting_key", context)
            if not isinstance(sort_key, int):
                return (1, 0, impl._identifier)
            return (0, sort_key, impl._identifier)

        return sorted(self.implementations(cls), key=key)

    def role_of(self, user: dict[str, Any] | None) -> int:
        """ANONYMOUS, USER or ADMIN (API key, trusted clients, `admin_users`)."""
        if user is None:
            return ANONYMOUS
        name = user.get("username")
        if name in (API_KEY_USER, TRUSTED_USER) or name in self.admin_users:
            return ADMIN
        return USER

    # -- calling hooks --------------------------------------------------------------------

    def _record(self, plugin: MoonlitePlugin, hook: str, exc: BaseException) -> None:
        message = f"{hook}: {type(exc).__name__}: {exc}"
        plugin._logger.error("plugin %s failed in %s", plugin._identifier, hook,
                             exc_info=exc)
        info = self.plugins.get(plugin._identifier)
        if info is not None:
            info.hook_errors.append(message)
            del info.hook_errors[:-50]

    async def call(self, plugin: MoonlitePlugin, hook: str, *args: Any,
                   default: Any = None, timeout: float | None = None,
                   raise_errors: bool = False) -> Any:
        """Call `plugin.hook(*args)` (plain, `@blocking` or coroutine) in isolation.

        An exception is logged and recorded against the plugin; `default` is returned
        (or the exception re-raised with `raise_errors`).
        """
        func = getattr(plugin, hook, None)
        if not callable(func):
            return default
        try:
            if getattr(func, "__moonlite_blocking__", False):
                pending: Any = asyncio.to_thread(func, *args)
            else:
                pending = func(*args)
            if inspect.isawaitable(pending):
                pending = await asyncio.wait_for(pending, timeout)
            return pending
        except (web.HTTPException, ApiError):
            if raise_errors:  # an answer the plugin chose (e.g. 404), not a failure
                raise
            return default
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                exc = TimeoutError(f"did not finish within {timeout} s")
            self._record(plugin, hook, exc)
            if raise_errors:
                raise
            return default

    def call_sync(self, plugin: MoonlitePlugin, hook: str, *args: Any,
                  default: Any = None) -> Any:
        """Call a plain (query) hook in isolation; coroutine answers are refused."""
        func = getattr(plugin, hook, None)
        if not callable(func):
            return default
        try:
            result = func(*args)
        except Exception as exc:
            self._record(plugin, hook, exc)
            return default
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            self._record(plugin, hook, TypeError(f"{hook} must not be a coroutine"))
            return default
        return result

    def queue_call(self, plugin: MoonlitePlugin, hook: str, *args: Any) -> None:
        """Run a hook after the ones queued before it for the same plugin (not awaited)."""
        runner = self._ordered.get(plugin._identifier)
        if runner is None:
            runner = self._ordered[plugin._identifier] = _OrderedCalls(self, plugin)
        runner.put(hook, args)

    async def drain_calls(self, timeout: float = 10.0) -> None:
        """Wait until every queued hook call has run (tests, shutdown)."""
        async with asyncio.timeout(timeout):
            while True:
                pending = [r.task for r in self._ordered.values()
                           if r.task is not None and not r.task.done()]
                if not pending:
                    return
                await asyncio.wait(pending)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, address: str, port: int) -> None:
        """Settings, initialize, environment, webcams, events, then on_startup in order."""
        await features.init_all_settings(self)
        for info in list(self.plugins.values()):
            if info.implementation is not None and info.loaded:
                await self.call(info.implementation, "initialize", timeout=self.hook_timeout)
        await features.finish_settings(self)
        self.environment = features.detect_environment(self)
        for detector in features.environment_plugins(self):
            await self.call(detector, "on_environment_detected", self.environment,
                            timeout=self.hook_timeout)
        features.register_webcams(self)
        for handler in self.implementations(EventHandlerPlugin):
            self._subscribe(handler)
        for starter in self.sorted_for(StartupPlugin, "StartupPlugin.on_startup"):
            await self.call(starter, "on_startup", address, port, timeout=self.hook_timeout)

    def _subscribe(self, plugin: EventHandlerPlugin) -> None:
        async def deliver(event: str, payload: dict[str, Any]) -> None:
            await self.call(plugin, "on_event", event, payload)

        self._unsubscribe.append(self.host.events.subscribe(
            ALL, deliver, name=f"plugin.{plugin._identifier}.on_event"))

    async def after_startup(self) -> None:
        """on_after_startup in order, once the server is listening."""
        try:
            if not await self._wait_listening():
                return
            for plugin in self.sorted_for(StartupPlugin, "StartupPlugin.on_after_startup"):
                await self.call(plugin, "on_after_startup", timeout=self.hook_timeout)
        finally:
            self.after_startup_done.set()

    async def _wait_listening(self) -> bool:
        """Wait until the host listens (True) or is stopped first (False)."""
        waiters = {asyncio.ensure_future(self.host.listening.wait()),
                   asyncio.ensure_future(self.host.stopped.wait())}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return self.host.listening.is_set()

    async def shutdown(self) -> None:
        """on_shutdown in order (once)."""
        if self.shutdown_done:
            return
        self.shutdown_done = True
        for plugin in self.sorted_for(ShutdownPlugin, "ShutdownPlugin.on_shutdown"):
            await self.call(plugin, "on_shutdown", timeout=self.hook_timeout)

    async def stop(self) -> None:
        """Cancel slicing jobs, unsubscribe, stop queued calls, wait for settings writes."""
        for job in list(self.slicing.jobs.values()):
            self.slicing.cancel(job.destination)
            if job.task is not None:
                job.task.cancel()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for runner in self._ordered.values():
            if runner.task is not None and not runner.task.done():
                runner.task.cancel()
        for plugin in self.implementations(SettingsPlugin):
            if plugin._settings is not None:
                try:
                    await plugin._settings.flush()
                except Exception as exc:
                    self._record(plugin, "settings.save", exc)

    # -- progress -------------------------------------------------------------------------

    def notify_print_progress(self, storage: str, path: str, progress: float) -> None:
        """Called by the printer on every progress change; ProgressPlugins hear whole steps.

        A plugin is called when the whole percentage differs from the last one reported for
        this file (a new file, or progress going back, starts over).
        """
        percent = max(0, min(100, int(progress)))
        key = (storage, path)
        last = self._progress_last.get(key)
        if last == percent:
            return
        self._progress_last = {key: percent}
        for plugin in self.implementations(ProgressPlugin):
            self.queue_call(plugin, "on_print_progress", storage, path, percent)

    def notify_slicing_progress(self, slicer: str, source_location: str, source_path: str,
                                destination_location: str, destination_path: str,
                                progress: int) -> None:
        """Tell ProgressPlugins about slicing progress (the slicing manager dedupes it)."""
        for plugin in self.implementations(ProgressPlugin):
            self.queue_call(plugin, "on_slicing_progress", slicer, source_location,
                            source_path, destination_location, destination_path, progress)

    def send_plugin_message(self, identifier: str, data: Any) -> None:
        """Push `data` to websocket clients as `notify_plugin_message` for `identifier`."""
        self.host.notify("notify_plugin_message", {"plugin": identifier, "data": data})


__all__ = ["ADMIN", "ANONYMOUS", "USER", "PluginManager", "PluginSettings"]
