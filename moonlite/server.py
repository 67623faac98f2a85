"""The host: builds the aiohttp app, loads components, runs their lifespans, serves the API."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from pydantic import Field, field_validator

from moonlite import __version__
from moonlite.appkeys import HOST
from moonlite.auth import Auth, AuthorizationConfig
from moonlite.component import (
    CORE_COMPONENTS,
    Component,
    component_class,
    make_component,
    order_by_dependencies,
)
from moonlite.config import Config, ConfigError, SectionModel, validate_section
from moonlite.database import DB_FILENAME, Database
from moonlite.events import EventBus, Events
from moonlite.http import HttpApi
from moonlite.middleware import authentication_middleware, cors_middleware, error_middleware
from moonlite.rpc import Dispatcher, Registry
from moonlite.server_api import ServerApi
from moonlite.websocket import Connection, WebsocketManager

log = logging.getLogger(__name__)
T = TypeVar("T")
C = TypeVar("C", bound=Component)

#: what the embedded defaults load when no config file is given (those that exist)
DEFAULT_SECTIONS = ("file_manager", "history", "printer", "data_store", "analysis",
                    "job_queue")
#: sections the host itself reads (not components)
HOST_SECTIONS = {"server", "authorization"}


class ServerConfig(SectionModel):
    """The `[server]` section."""

    host: str = "127.0.0.1"
    port: int = Field(7125, ge=0, le=65535)
    max_upload_size: int = Field(1024, ge=1, description="MiB")
    max_websocket_connections: int = Field(50, ge=1)
    enable_debug_logging: bool = False

    @field_validator("host")
    @classmethod
    def _all_hosts(cls, value: str) -> str:
        return "0.0.0.0" if value == "all" else value


@dataclass
class DataPaths:
    """The data folder and its standard sub-folders."""

    data: Path

    @property
    def gcodes(self) -> Path:
        """G-code files (the `gcodes` root)."""
        return self.data / "gcodes"

    @property
    def config(self) -> Path:
        """Configuration (the `config` root)."""
        return self.data / "config"

    @property
    def logs(self) -> Path:
        """Log files (the `logs` root)."""
        return self.data / "logs"

    @property
    def database(self) -> Path:
        """The database folder."""
        return self.data / "database"

    def create(self) -> None:
        """Make every folder that is missing."""
        for path in (self.gcodes, self.config, self.logs, self.database):
            path.mkdir(parents=True, exist_ok=True)


class Host:
    """Everything one moonlite process shares: config, bus, database, registry, components."""

    def __init__(self, config: Config | None, data_dir: Path, *,
                 port: int | None = None, host: str | None = None) -> None:
        self.version = __version__
        self.started_at = time.time()
        self.config = config or Config()
        self.embedded_defaults = config is None
        self.paths = DataPaths(data_dir.expanduser().resolve())
        self.server_config = validate_section(ServerConfig, self.config.get("server"), "server")
        if port is not None:
            self.server_config.port = port
        if host is not None:
            self.server_config.host = host
        self.auth = Auth(validate_section(AuthorizationConfig, self.config.get("authorization"),
                                          "authorization"))
        self.events = EventBus()
        self.database = Database(self.paths.database / DB_FILENAME)
        self.registry = Registry()
        self.dispatcher = Dispatcher(self.registry, self.auth.check)
        self.websockets = WebsocketManager(self, self.dispatcher)
        self.websockets.max_connections = self.server_config.max_websocket_connections
        self.http = HttpApi(self, self.registry, self.dispatcher)
        self.components: dict[str, Component] = {}
        self.failed_components: list[str] = []
        self.warnings: list[str] = []
        self.registered_directories: list[str] = []
        self.restart_requested = False
        self.stopped = asyncio.Event()
        self.bound_port: int | None = None
        #: set once the HTTP site listens and `bound_port` is known
        self.listening = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="moonlite")
        self.log_handler: logging.Handler | None = None
        self.server_api = ServerApi(self)
        self.registry.register_object(self.server_api)

    # -- services for components ----------------------------------------------------------

    def get_component(self, name: str) -> Component | None:
        """The loaded component called `name`."""
        return self.components.get(name)

    def lookup(self, name: str, cls: type[C]) -> C | None:
        """The loaded component `name` if it is a `cls`."""
        comp = self.components.get(name)
        return comp if isinstance(comp, cls) else None

    def notify(self, method: str, *params: Any,
               only: Callable[[Connection], bool] | None = None) -> None:
        """Broadcast a `notify_*` to websocket clients; `params` becomes the params array."""
        self.websockets.notify(method, list(params) if params else None, only=only)

    async def run_in_thread(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking work in the host's worker threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(func, *args,
                                                                            **kwargs))

    def warn(self, message: str) -> None:
        """Record a warning shown in `server.info`."""
        log.warning("%s", message)
        self.warnings.append(message)

    @property
    def klippy_state(self) -> str:
        """The printer-link state in Moonraker's terms (from the printer component)."""
        printer = self.components.get("printer")
        return str(getattr(printer, "klippy_state", "disconnected"))

    def on_client_opened(self, conn: Connection) -> None:
        """A websocket client connected."""
        self.events.fire(Events.CLIENT_OPENED, {"remoteAddress": conn.ip})

    def on_client_closed(self, conn: Connection) -> None:
        """A websocket client went away."""
        self.events.fire(Events.CLIENT_CLOSED, {"remoteAddress": conn.ip})

    def request_restart(self) -> None:
        """Stop serving and let the runner start a fresh host."""
        self.restart_requested = True
        asyncio.get_running_loop().call_soon(self.stopped.set)

    # -- components -----------------------------------------------------------------------

    def _wanted_kinds(self) -> list[str]:
        kinds: list[str] = list(CORE_COMPONENTS)
        extra: list[str] = list(DEFAULT_SECTIONS) if self.embedded_defaults else []
        for section in self.config.sections.values():
            extra.append(section.kind)
        for kind in extra:
            if kind not in kinds and kind not in HOST_SECTIONS:
                kinds.append(kind)
        return kinds

    def load_components(self) -> None:
        """Import and configure every wanted component; failures are recorded, not fatal."""
        classes: dict[str, type[Component]] = {}
        claimed: dict[str, str] = {}
        unresolved: list[str] = []
        for kind in self._wanted_kinds():
            try:
                cls = component_class(kind)
            except ModuleNotFoundError as exc:
                if self.embedded_defaults and kind in DEFAULT_SECTIONS \
                        and not self.config.has(kind):
                    continue
                if exc.name and exc.name.startswith("moonlite.components."):
                    unresolved.append(kind)
                else:
                    self._fail(kind, f"cannot import: {exc}")
                continue
            except Exception as exc:
                if self.embedded_defaults and kind in DEFAULT_SECTIONS \
                        and not self.config.has(kind):
                    log.debug("default component %s unavailable: %s", kind, exc)
                    continue
                self._fail(kind, f"cannot import: {exc}")
                continue
            classes[cls.name or kind] = cls
            for other in getattr(cls, "extra_sections", ()):
                claimed[other] = cls.name or kind
        for kind in unresolved:
            if kind not in claimed:
                self._fail(kind, f"[{kind}]: unknown config section (no such component)")
        try:
            order = order_by_dependencies(classes)
        except ConfigError as exc:
            self.warn(str(exc))
            order = [n for n in classes if not classes[n].requires]
        for name in order:
            cls = classes[name]
            if any(dep not in self.components for dep in cls.requires):
                self._fail(name, f"component '{name}' not loaded: a requirement failed")
                continue
            try:
                comp = make_component(self, cls, self.config.get(name))
                self.registry.register_object(comp)
            except Exception as exc:
                self._fail(name, str(exc))
                continue
            self._subscribe_events(comp)
            self.components[name] = comp

    def _subscribe_events(self, comp: Component) -> None:
        for attr in dir(type(comp)):
            func = getattr(type(comp), attr, None)
            for event in getattr(func, "__moonlite_events__", ()):
                self.events.subscribe(event, getattr(comp, attr),
                                      name=f"{comp.name}.{attr}", group=comp.name)

    def _fail(self, name: str, reason: str) -> None:
        log.error("component %s failed: %s", name, reason)
        if name not in self.failed_components:
            self.failed_components.append(name)
        self.warnings.append(f"Component '{name}' failed to load: {reason}")

    def _unload(self, name: str) -> None:
        comp = self.components.pop(name, None)
        if comp is None:
            return
        for method_name, method in list(self.registry.methods.items()):
            if getattr(method.func, "__self__", None) is comp:
                self.registry.unregister(method_name)

    # -- application ----------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """The aiohttp application with every route and the host's lifespan."""
        self.paths.create()
        app = web.Application(
            middlewares=[error_middleware, cors_middleware, authentication_middleware],
            client_max_size=self.server_config.max_upload_size * 1024 * 1024,
        )
        app[HOST] = self
        self.load_components()
        app.router.add_get("/websocket", self.websockets.handle)
        app.router.add_get("/", self.server_api.welcome)
        for comp in self.components.values():
            routes = getattr(comp, "routes", None)
            if callable(routes):
                app.router.add_routes(routes())
        app.router.add_routes(self.http.routes())
        app.cleanup_ctx.append(self._lifespan)
        # aiohttp waits (up to 60 s) for running handlers before the cleanup contexts run:
        # open websockets must be closed on shutdown, or a stop/restart stalls
        app.on_shutdown.append(self._close_websockets)
        return app

    async def _close_websockets(self, app: web.Application) -> None:
        await self.websockets.close_all()

    async def _lifespan(self, app: web.Application) -> AsyncIterator[None]:
        await self.database.open()
        await self.auth.load(self.database)
        async with contextlib.AsyncExitStack() as stack:
            for name in list(self.components):
                comp = self.components[name]
                try:
                    await stack.enter_async_context(_guarded(name, comp.lifespan()))
                except Exception as exc:
                    log.exception("component %s failed to start", name)
                    self._unload(name)
                    self._fail(name, f"start-up failed: {exc}")
            self.events.fire(Events.STARTUP)
            try:
                yield
            finally:
                self.events.fire(Events.SHUTDOWN)
                # the websockets were closed already, by on_shutdown (_close_websockets)
                with contextlib.suppress(Exception):
                    await self.events.drain(timeout=2.0)
        await self.events.close()
        await self.database.close()
        self._executor.shutdown(wait=False, cancel_futures=True)


@contextlib.asynccontextmanager
async def _guarded(name: str, lifespan: contextlib.AbstractAsyncContextManager[None]
                   ) -> AsyncIterator[None]:
    """Enter a component's lifespan; errors while leaving it are logged, not raised."""
    await lifespan.__aenter__()
    try:
        yield
    finally:
        try:
            await lifespan.__aexit__(None, None, None)
        except Exception:
            log.exception("component %s failed to shut down cleanly", name)


#: seconds after start-up when the memory freed while starting is handed back to the system
TRIM_AFTER = 3.0


def release_freed_memory() -> None:
    """Collect garbage and return free heap pages to the OS (glibc's malloc_trim).

    Start-up (imports, config validation, schema building) frees a few MB that glibc keeps in
    its arenas; an idle host should not carry them.
    """
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


async def serve(host: Host, ready: Callable[[int], object] | None = None) -> None:
    """Run `host` until it is stopped (signal or restart request)."""
    app = host.build_app()
    # a refused upload's unread body is drained for at most 2 s (aiohttp's default, 10 s, also
    # held up every shutdown and restart); requests still running after 5 s do not hold a stop
    runner = web.AppRunner(app, access_log=None, handle_signals=False, lingering_time=2.0,
                           shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host.server_config.host, host.server_config.port,
                       reuse_address=True)
    try:
        await site.start()
        server = site._server  # aiohttp has no public accessor for the bound port
        sockets = getattr(server, "sockets", None) or []
        host.bound_port = sockets[0].getsockname()[1] if sockets else host.server_config.port
        host.listening.set()
        log.info("moonlite %s serving on http://%s:%d (data in %s)", host.version,
                 host.server_config.host, host.bound_port, host.paths.data)
        if ready is not None:
            ready(host.bound_port)
        trim = asyncio.get_running_loop().call_later(TRIM_AFTER, release_freed_memory)
        await host.stopped.wait()
        trim.cancel()
    finally:
        await runner.cleanup()


def load_config(path: Path | None) -> Config | None:
    """The config at `path`, or None for the embedded defaults."""
    return Config.load(path) if path is not None else None


__all__ = ["DataPaths", "Host", "ServerConfig", "load_config", "serve"]
