"""`[printer]`: the printer link component — owns the serial link, the job and the object model."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import Field

from moonlite.component import Component
from moonlite.config import SectionModel, validate_section
from moonlite.events import Events, on_event
from moonlite.rpc import ApiError
from moonlite.transport.base import Transport
from moonlite.transport.factory import detect, open_transport
from moonlite.transport.virtual import VirtualTransport
from moonlite.virtual_printer.options import VirtualPrinterOptions
from moonlite.virtual_printer.printer import VirtualPrinter

from .callbacks import CallbackHub
from .gcode_events import GcodeTracker
from .interface import PrinterInterface
from .jobs import JobManager
from .link_config import LinkConfig
from .moonraker_api import MoonrakerPrinterApi
from .objects_api import ObjectsApi
from .profiles import PrinterProfiles, ProfilesApi
from .protocol import MarlinProtocol
from .scripts import GcodeScripts
from .state import PrinterState
from .status_model import StatusModel
from .tasks import cancel_and_wait

log = logging.getLogger(__name__)
S = PrinterState
VIRTUAL = "virtual"


class PrinterConfig(SectionModel):
    """The `[printer]` section: where the printer is and how to talk to it."""

    port: str = Field(VIRTUAL, description="device path, socket://host:port, 'auto' or "
                                           "'virtual' (the built-in virtual printer)")
    baudrate: int = Field(250000, ge=0, description="0 = detect")
    auto_connect: bool = True
    reconnect_interval: float = Field(5.0, ge=0.0, description="0 = never reconnect")
    checksum: str = Field("always", pattern="^(always|printing)$")
    pipelining: bool = True
    rx_buffer_size: int = Field(128, ge=16)
    timeout_communication: float = Field(30.0, gt=0)


class VirtualPrinterSection(VirtualPrinterOptions):
    """`[virtual_printer]`: options of the built-in virtual printer (see docs)."""


class PrinterComponent(MoonrakerPrinterApi, PrinterInterface, ProfilesApi, ObjectsApi,
                       Component):
    """The one owner of the printer link; everyone else goes through its API."""

    name = "printer"
    Config = PrinterConfig
    extra_sections = ("virtual_printer", "gcode_macro")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg: PrinterConfig = self.config
        self.link = MarlinProtocol(LinkConfig(
            checksum=cfg.checksum,  # type: ignore[arg-type]
            pipelining=cfg.pipelining, rx_buffer_size=cfg.rx_buffer_size,
            timeout_communication=cfg.timeout_communication))
        self.status = StatusModel()
        self.virtual_options: VirtualPrinterOptions | None = None
        if cfg.port.lower() == VIRTUAL:
            section = self.host.config.get("virtual_printer")
            options = validate_section(VirtualPrinterSection, section, "virtual_printer")
            if options.sd_dir is None:
                options.sd_dir = self.host.paths.data / "virtual_sdcard"
            self.virtual_options = options
        if self.virtual_options is not None and self.virtual_options.sd_dir is not None:
            # the card must exist before the board looks for it
            self.virtual_options.sd_dir.mkdir(parents=True, exist_ok=True)
        #: the built-in printer (kept across reconnects, like a board that stays powered)
        self.virtual_printer: VirtualPrinter | None = (
            VirtualPrinter(self.virtual_options) if self.virtual_options is not None else None)
        self._connect_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._port: str | None = None
        self._baudrate: int | None = None
        self._background: set[asyncio.Task[Any]] = set()
        #: what the host sent (modes, Z, E, tool) and the G-code events it implies
        self.tracker = GcodeTracker(self._fire)
        self.scripts = GcodeScripts(self.host.paths.config)
        self.profiles = PrinterProfiles(self.host.database)
        self.callbacks = CallbackHub(self.get_current_data)
        self.temperature_offsets: dict[str, float] = {}
        self._hold_lock = asyncio.Lock()
        #: the job layer: selection, host and SD print jobs (see docs/printer-link.md)
        self.jobs = JobManager(self)
        self._wire_listeners()
        #: Klipper's printer objects and commands, Moonraker's printer API (moonraker_api.py)
        self.setup_moonraker()

    def _fire(self, event: str, payload: dict[str, Any] | None = None) -> None:
        self.host.events.fire(event, payload or {})

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _wire_listeners(self) -> None:
        ls = self.link.listeners
        ls.state.append(self._on_state)
        ls.error.append(self._on_error)
        ls.connected.append(self._on_connected)
        ls.temperature.append(self.callbacks.add_temperatures)
        ls.position.append(self.tracker.position_reported)
        ls.line.append(self.callbacks.add_line)
        ls.action.append(self._on_action)
        self.jobs.listeners.append(lambda _what: self.callbacks.changed())

    def _on_state(self, old: PrinterState, new: PrinterState) -> None:
        self._fire(Events.PRINTER_STATE_CHANGED, {"state_id": new.value,
                                                  "state_string": new.text})
        closed = (S.CLOSED, S.CLOSED_WITH_ERROR, S.OFFLINE)
        if new in closed and old not in closed:
            self._fire(Events.DISCONNECTED, {})
        if new in (S.ERROR, S.CONNECTING, *closed):
            self.jobs.link_failed(f"printer state {new.value}")
        self.callbacks.changed()

    def _on_error(self, message: str, fatal: bool) -> None:
        if fatal:
            self._fire(Events.ERROR, {"error": message})

    def _on_connected(self, _firmware: Any) -> None:
        self._fire(Events.CONNECTED, {"port": self._port, "baudrate": self._baudrate})
        self._spawn(self._after_connected(), "printer-after-connected")

    async def _after_connected(self) -> None:
        try:
            await self.run_script("afterPrinterConnected")
        except Exception as exc:
            log.warning("afterPrinterConnected script failed: %s", exc)

    @on_event(Events.FILE_REMOVED)
    def _on_file_removed(self, _event: str, payload: dict[str, Any]) -> None:
        # a removed selected file is deselected (FileDeselected), as OctoPrint's file API
        # does; the printed file cannot be removed (the files component refuses)
        selected = self.jobs.selected
        if (selected is not None and selected.origin == "local"
                and payload.get("storage") == "local" and payload.get("path") == selected.path
                and self.jobs.active is None):
            self.jobs.unselect()

    def _on_action(self, name: str, args: str) -> None:
        self.callbacks.registered_message(name, args)
        # `paused`/`resumed`: the printer did it itself (LCD, M600); the job follows
        actions = {"pause": self.jobs.pause, "paused": self.jobs.pause,
                   "resume": self.jobs.resume, "resumed": self.jobs.resume,
                   "cancel": self.jobs.cancel, "disconnect": self.disconnect}
        handler = actions.get(name)
        if handler is not None:
            self._spawn(handler(), f"printer-action-{name}")

    def current_connection_info(self) -> tuple[str | None, int | None]:
        """The port and baud rate of the current (or last) connection."""
        return self._port, self._baudrate

    # -- lifecycle ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Connect (in the background) and keep the object model flowing to subscribers."""
        if self.virtual_options is not None and self.virtual_options.sd_dir is not None:
            self.virtual_options.sd_dir.mkdir(parents=True, exist_ok=True)
        await self.profiles.load()
        callbacks = asyncio.create_task(self.callbacks.run(), name="printer-callbacks")
        async with self.status.running(), self.objects.running():
            if self.config.auto_connect:
                self.start_connecting()
            try:
                yield
            finally:
                self._stopping = True
                await cancel_and_wait(self._connect_task)
                with contextlib.suppress(Exception):
                    await self.link.disconnect()
                await self.jobs.close()
                await self.jobs.sd.close()
                await cancel_and_wait(callbacks, *self._background)
                if self.virtual_printer is not None:
                    with contextlib.suppress(Exception):
                        await self.virtual_printer.close()

    def make_transport(self, port: str | None = None, baudrate: int | None = None
                       ) -> Transport:
        """The transport for the configured (or given) port."""
        port = port or self.config.port
        if port.lower() == VIRTUAL:
            if self.virtual_printer is None:
                self.virtual_options = self.virtual_options or VirtualPrinterOptions()
                self.virtual_printer = VirtualPrinter(self.virtual_options)
            return VirtualTransport(self.virtual_printer)
        return open_transport(port, baudrate or self.config.baudrate or 115200)

    def start_connecting(self, port: str | None = None, baudrate: int | None = None) -> None:
        """Connect in the background, retrying every `reconnect_interval` seconds."""
        if self._connect_task is not None and not self._connect_task.done():
            self._connect_task.cancel()
        self._connect_task = asyncio.create_task(self._connect_loop(port, baudrate))

    async def _connect_loop(self, port: str | None, baudrate: int | None) -> None:
        self._fire(Events.CONNECTING, {})
        while not self._stopping:
            try:
                port, baudrate = await self._resolve_port(port, baudrate)
                self._port = VIRTUAL.upper() if port.lower() == VIRTUAL else port
                self._baudrate = baudrate
                await self.link.connect(self.make_transport(port, baudrate))
                return
            except Exception as exc:
                log.warning("printer connection failed: %s", exc)
            interval = self.config.reconnect_interval
            if interval <= 0:
                return
            await asyncio.sleep(interval)

    async def _resolve_port(self, port: str | None, baudrate: int | None) -> tuple[str, int]:
        """The port and baud rate to use; `auto` / baud rate 0 are detected by probing."""
        port = port or self.config.port
        rate = baudrate or self.config.baudrate
        if port.lower() == VIRTUAL:
            return port, rate or 250000
        if port.lower() == "auto" or not rate:
            return await detect([port] if port.lower() != "auto" else None,
                                [rate] if rate else None)
        return port, rate

    async def disconnect(self) -> None:
        """Close the link (Disconnecting, the beforePrinterDisconnected script, close)."""
        if self._connect_task is not None and not self._connect_task.done():
            self._connect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connect_task
        if self.link.transport is None:
            return
        self._fire(Events.DISCONNECTING, {})
        if self.link.is_operational:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.run_script("beforePrinterDisconnected"), 10)
        await self.link.disconnect()

    # -- the contract other components rely on (see docs/printer-link.md) -----------------

    @property
    def klippy_state(self) -> str:
        """The link state in Moonraker's terms: startup, ready, error or shutdown."""
        state = self.link.state
        if self.link.is_operational:
            return "ready"
        if state in (S.OPEN_SERIAL, S.DETECT_SERIAL, S.DETECT_BAUDRATE, S.CONNECTING):
            return "startup"
        if self.link.firmware_halted:
            return "shutdown"
        return "error"

    @property
    def marlin_settings(self) -> list[str]:
        """The firmware's M503 report (empty until a client asked for it once)."""
        objects = getattr(self, "objects", None)
        return list(getattr(objects, "m503_lines", []))

    def is_printing(self) -> bool:
        """Whether a job is running (printing, pausing, resuming, …)."""
        return self.link.machine.is_printing and not self.is_paused()

    def is_paused(self) -> bool:
        """Whether the job is paused."""
        return self.link.state is S.PAUSED

    def printing_path(self) -> Path | None:
        """Absolute path of the host file being printed or paused, if any."""
        return self.jobs.printing_path()

    async def print_file(self, filename: str, source: str = "api") -> None:
        """Start a host print of `filename` (relative to the gcodes root); 503/409/404."""
        if not self.link.is_operational:
            raise ApiError("Printer not ready", 503)
        await self.jobs.start(filename, source)


COMPONENT = PrinterComponent
