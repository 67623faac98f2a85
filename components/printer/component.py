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
from moonlite.rpc import ApiError
from moonlite.transport.base import Transport
from moonlite.transport.factory import open_transport
from moonlite.transport.virtual import VirtualTransport
from moonlite.virtual_printer.options import VirtualPrinterOptions

from .link_config import LinkConfig
from .objects_api import ObjectsApi
from .protocol import MarlinProtocol
from .state import PrinterState
from .status_model import StatusModel

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


class PrinterComponent(ObjectsApi, Component):
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
        self._connect_task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Connect (in the background) and keep the object model flowing to subscribers."""
        if self.virtual_options is not None and self.virtual_options.sd_dir is not None:
            self.virtual_options.sd_dir.mkdir(parents=True, exist_ok=True)
        async with self.status.running():
            if self.config.auto_connect:
                self.start_connecting()
            try:
                yield
            finally:
                self._stopping = True
                if self._connect_task is not None:
                    self._connect_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await self._connect_task
                with contextlib.suppress(Exception):
                    await self.link.disconnect()

    def make_transport(self, port: str | None = None, baudrate: int | None = None
                       ) -> Transport:
        """The transport for the configured (or given) port."""
        port = port or self.config.port
        if port.lower() == VIRTUAL:
            return VirtualTransport(options=self.virtual_options or VirtualPrinterOptions())
        return open_transport(port, baudrate or self.config.baudrate or 115200)

    def start_connecting(self, port: str | None = None, baudrate: int | None = None) -> None:
        """Connect in the background, retrying every `reconnect_interval` seconds."""
        if self._connect_task is not None and not self._connect_task.done():
            self._connect_task.cancel()
        self._connect_task = asyncio.create_task(self._connect_loop(port, baudrate))

    async def _connect_loop(self, port: str | None, baudrate: int | None) -> None:
        while not self._stopping:
            try:
                await self.link.connect(self.make_transport(port, baudrate))
                return
            except Exception as exc:
                log.warning("printer connection failed: %s", exc)
            interval = self.config.reconnect_interval
            if interval <= 0:
                return
            await asyncio.sleep(interval)

    # -- the contract other components rely on (see docs/printer-link.md) -----------------

    @property
    def klippy_state(self) -> str:
        """The link state in Moonraker's terms: startup, ready, error or shutdown."""
        state = self.link.state
        if self.link.is_operational:
            return "ready"
        if state in (S.OPEN_SERIAL, S.DETECT_SERIAL, S.DETECT_BAUDRATE, S.CONNECTING):
            return "startup"
        if self.link.error and "M112" in self.link.error:
            return "shutdown"
        return "error"

    def is_printing(self) -> bool:
        """Whether a job is running (printing, pausing, resuming, …)."""
        return self.link.machine.is_printing and not self.is_paused()

    def is_paused(self) -> bool:
        """Whether the job is paused."""
        return self.link.state is S.PAUSED

    def printing_path(self) -> Path | None:
        """Absolute path of the host file being printed or paused, if any."""
        return None

    async def commands(self, lines: list[str]) -> list[str]:
        """Send G-code lines in order; answer their responses once all are acknowledged."""
        if not self.link.is_operational:
            raise ApiError("Printer not ready", 503)
        return await self.link.run_script(lines)

    async def print_file(self, filename: str) -> None:
        """Start a host print of `filename` (relative to the gcodes root)."""
        raise ApiError("Printing is not available yet", 503)


COMPONENT = PrinterComponent
