"""Connecting, the handshake and autoreports, firmware resets, and every way the link ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from moonlite.transport.base import Transport, TransportClosed

from .errors import (
    CommandError,
    CommunicationError,
    FirmwareError,
    FirmwareReset,
    LinkLost,
    NotConnected,
    PrinterLinkError,
)
from .flow import LineFlow
from .framing import gcode_code, strip_comment
from .link_config import FirmwareInfo
from .link_core import LinkCore
from .state import PrinterState

log = logging.getLogger("moonlite.components.printer.protocol")
S = PrinterState
HELLO = b"N0 M110 N0*125\n"


class LinkLifecycle(LinkCore):
    """Connect/disconnect, handshake, emergency stop and shutdown (see `MarlinProtocol`)."""

    async def connect(self, transport: Transport) -> None:
        """Open `transport`, run the handshake (hello, M115, autoreports) and become OPERATIONAL.

        Raises `OSError` when the port cannot be opened and `CommunicationError` when the
        firmware does not answer; the state is then CLOSED_WITH_ERROR.
        """
        if self.transport is not None:
            await self.disconnect()
        self.transport = transport
        self.error = None
        self.firmware_halted = False
        self._closing = False
        self.machine.set(S.OPEN_SERIAL)
        try:
            await transport.open()
        except OSError as exc:
            self.error = f"cannot open {transport.name}: {exc}"
            self.machine.set(S.ERROR)
            self.machine.set(S.CLOSED_WITH_ERROR)
            self.transport = None
            raise
        self.machine.set(S.CONNECTING)
        self._reset_session()
        loop = asyncio.get_running_loop()
        self._last_rx = self._ok_clock = loop.time()
        self._tasks = [
            asyncio.create_task(self._read_loop(transport), name="printer-reader"),
            asyncio.create_task(self._send_loop(transport), name="printer-sender"),
            asyncio.create_task(self._watchdog(), name="printer-watchdog"),
        ]
        try:
            await self._handshake()
        except PrinterLinkError as exc:
            await self._shutdown(str(exc), CommunicationError(str(exc)), error=True)
            raise
        except asyncio.CancelledError:
            await self._shutdown("connect cancelled", LinkLost("connect cancelled"), error=False)
            raise

    async def disconnect(self) -> None:
        """Close the link: pending commands and the job fail with `LinkLost`; state CLOSED."""
        if self.transport is None:
            return
        await self._shutdown("disconnected", LinkLost("disconnected"), error=False)

    async def send_emergency(self, command: str) -> None:
        """Send `M112`, `M108`, `M410` or `M876 …` past every queue.

        `M112` is written plain and numbered, followed by heaters off; the link then goes to
        ERROR and closes (the firmware needs a reset). The others go straight to the wire when
        the firmware has the emergency parser, otherwise to the front of the queue.
        """
        text = strip_comment(command)
        code = gcode_code(text)
        if code == "M112":
            await self._emergency_stop("Emergency stop (M112)")
            return
        transport = self.transport
        if transport is None:
            raise NotConnected("printer is not connected")
        if self.firmware.has("EMERGENCY_PARSER"):
            # acted on at once by the firmware, but still queued there: its ok must be counted
            sent = LineFlow.plain(text)
            self._flow.push(sent)
            await transport.write(sent.data)
        else:
            self._queue.appendleft((text, None))
            self._wake.set()

    def _reset_session(self) -> None:
        self._flow = self._new_flow()
        self.firmware = FirmwareInfo()
        self._queue.clear()
        self._pending_error = None
        self._probe = False
        self._timeouts = 0
        self._handshaken = False
        self._poll_outstanding = False
        if self._resend_hold is not None:
            self._resend_hold.cancel()
            self._resend_hold = None
        if self._resend_check is not None:
            self._resend_check.cancel()
            self._resend_check = None

    async def _handshake(self) -> None:
        """Hello until the firmware answers, then M115 and the autoreports; OPERATIONAL."""
        transport = self.transport
        assert transport is not None
        cfg = self.config
        loop = asyncio.get_running_loop()
        self._hellos_sent = self._hello_oks = 0
        self._hello = loop.create_future()
        for _attempt in range(cfg.hello_attempts):
            await self._write_hello()
            try:
                await asyncio.wait_for(asyncio.shield(self._hello), cfg.timeout_connection)
                break
            except TimeoutError:
                continue
        else:
            raise CommunicationError("no answer from the printer while connecting")
        # every hello gets an ok: let the late ones arrive before they could pass for M115's
        deadline = loop.time() + cfg.timeout_resend_ok
        while self._hello_oks < self._hellos_sent and (left := deadline - loop.time()) > 0:
            self._hello = loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._hello), left)
        self._hello = None
        self._flow.reset_numbering(1)
        self._handshaken = True
        with contextlib.suppress(CommandError):
            await self.send("M115")
        await self._setup_autoreports()
        if self.machine.state is S.CONNECTING:
            self.machine.set(S.OPERATIONAL)
        self.listeners.fire_connected(self.firmware)

    async def _write_hello(self) -> None:
        transport = self.transport
        if transport is not None:
            self._hellos_sent += 1
            await transport.write(HELLO)

    async def _setup_autoreports(self) -> None:
        cfg = self.config
        firmware = self.firmware
        setup: list[str] = []
        if firmware.has("AUTOREPORT_TEMP") and cfg.temperature_autoreport:
            setup.append(f"M155 S{cfg.temperature_autoreport}")
        elif cfg.temperature_poll and self._poll_task is None:
            self._poll_task = asyncio.create_task(self._poll_temperature(), name="printer-m105")
            self._tasks.append(self._poll_task)
        if firmware.has("AUTOREPORT_POS") and cfg.position_autoreport:
            setup.append(f"M154 S{cfg.position_autoreport}")
        if firmware.has("AUTOREPORT_SD_STATUS") and cfg.sd_status_autoreport:
            setup.append(f"M27 S{cfg.sd_status_autoreport}")
        results = await asyncio.gather(*(self.send(c) for c in setup), return_exceptions=True)
        for command, result in zip(setup, results, strict=True):
            if isinstance(result, CommandError):
                log.warning("printer refused %s: %s", command, result)
            elif isinstance(result, BaseException):
                raise result

    async def _poll_temperature(self) -> None:
        """Ask for temperatures with M105 when the firmware has no autoreport."""
        interval = self.config.temperature_poll
        while True:
            await asyncio.sleep(interval)
            if not self._poll_outstanding and self.is_operational:
                self._poll_outstanding = True
                future = self.send("M105")
                future.add_done_callback(self._poll_done)

    def _poll_done(self, future: asyncio.Future[list[str]]) -> None:
        self._poll_outstanding = False
        if not future.cancelled():
            future.exception()  # retrieved: a failed poll is not worth a warning

    def _on_start(self) -> None:
        transport = self.transport
        if self._hello is not None and transport is not None:
            # the board (re)booted while we said hello: say it again
            asyncio.get_running_loop().create_task(self._write_hello())
            return
        if not self._handshaken or self._closing:
            return
        log.warning("printer reset detected (start)")
        exc = FirmwareReset("the printer reset (start received)")
        self._fail_all(exc)
        self.listeners.fire_reset()
        if self.machine.can(S.CONNECTING):
            self.machine.set(S.CONNECTING)
        self._reset_session()
        self._tasks.append(asyncio.create_task(self._rehandshake(), name="printer-rehandshake"))

    async def _rehandshake(self) -> None:
        try:
            await self._handshake()
        except PrinterLinkError as exc:
            await self._shutdown(str(exc), CommunicationError(str(exc)), error=True)

    def _lost(self, message: str) -> None:
        self._begin_shutdown(message, LinkLost(message))

    def _give_up(self, message: str) -> None:
        self._begin_shutdown(message, CommunicationError(message))

    def _begin_shutdown(self, message: str, exc: PrinterLinkError) -> None:
        """Shut down with an error from synchronous code (once, however often it is asked)."""
        if self._closing or self._shutdown_task is not None:
            return
        self._shutdown_task = asyncio.get_running_loop().create_task(
            self._shutdown(message, exc, error=True)
        )

    def _begin_fatal(self, message: str) -> None:
        """Handle a fatal firmware error from synchronous code (once)."""
        if self._closing or self._shutdown_task is not None:
            return
        self._shutdown_task = asyncio.get_running_loop().create_task(self._fatal(message))

    async def _fatal(self, message: str) -> None:
        """A fatal firmware error: M112 and heaters off (configurable), ERROR, close."""
        if self._closing:
            return
        if self.config.send_m112_on_error:
            await self._stop_lines()
        await self._shutdown(message, FirmwareError(message), error=True)

    async def _emergency_stop(self, message: str) -> None:
        if self.transport is None:
            raise NotConnected("printer is not connected")
        await self._stop_lines()
        await self._shutdown(message, FirmwareError(message), error=True)

    async def _stop_lines(self) -> None:
        """M112 plain and numbered, then every heater off (numbered), straight to the wire."""
        transport = self.transport
        if transport is None:
            return
        flow = self._flow
        lines = [b"M112\n", flow.numbered("M112").data]
        for tool in range(self.firmware.extruder_count):
            lines.append(flow.numbered(f"M104 T{tool} S0").data)
        lines.append(flow.numbered("M140 S0").data)
        with contextlib.suppress(TransportClosed, OSError):
            await transport.write(b"".join(lines))

    async def _shutdown(self, message: str, exc: PrinterLinkError, error: bool) -> None:
        """Fail everything, stop the tasks, close the transport; ERROR → CLOSED_WITH_ERROR."""
        if self._closing or self.transport is None:
            return
        self._closing = True
        if error:
            self.error = message
            # the firmware stopped itself (kill, thermal runaway) or was stopped (M112)
            self.firmware_halted = isinstance(exc, FirmwareError)
            log.warning("printer link error: %s", message)
            self.listeners.fire_error(message, True)
        self._fail_all(exc)
        if self._hello is not None and not self._hello.done():
            self._hello.set_exception(exc)
            self._hello.exception()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for task in self._tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks = []
        self._poll_task = None
        transport = self.transport
        self.transport = None
        self._handshaken = False
        if error and self.machine.can(S.ERROR):
            self.machine.set(S.ERROR)
        if transport is not None:
            with contextlib.suppress(OSError, TransportClosed):
                await transport.close()
        final = S.CLOSED_WITH_ERROR if self.machine.state is S.ERROR else S.CLOSED
        if self.machine.can(final):
            self.machine.set(final)
        self._closing = False
        self._shutdown_task = None
