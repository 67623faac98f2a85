"""The Marlin protocol engine: handshake, send queue, oks, resends, timeouts, reports, resets.

`MarlinProtocol` owns one `Transport`. Three tasks run while connected: the reader (every
received line goes through `_handle_line`), the sender (writes resends, then queued commands,
then job lines, as far as `LineFlow` allows) and the watchdog (timeouts). Everything else is
plain method calls on the event loop, so there is no locking.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterable, Iterable, Sequence
from typing import Any

from moonlite.components.printer import parser
from moonlite.components.printer.errors import (
    CommandError,
    CommunicationError,
    FirmwareError,
    FirmwareReset,
    LinkLost,
    NotConnected,
    PrinterLinkError,
)
from moonlite.components.printer.flow import LineFlow, ResendOutcome, Sent
from moonlite.components.printer.framing import BLOCKING, LONG_RUNNING, gcode_code, m110_number
from moonlite.components.printer.link_config import FirmwareInfo, LinkConfig
from moonlite.components.printer.listeners import Listeners
from moonlite.components.printer.state import JOB_STATES, PrinterState, StateMachine
from moonlite.components.printer.stream import StreamJob

from moonlite.transport.base import Transport, TransportClosed

log = logging.getLogger(__name__)
S = PrinterState
HELLO = b"N0 M110 N0*125\n"


class Command:
    """A command from `send`: its text, the future for its ok, and the lines it produced."""

    __slots__ = ("error", "future", "lines", "text")

    def __init__(self, text: str, future: asyncio.Future[list[str]]) -> None:
        self.text = text
        self.future = future
        self.lines: list[str] = []
        self.error: str | None = None

    def finish(self) -> None:
        """The firmware acknowledged the command: resolve (or fail with its error message)."""
        future = self.future
        if future.done():
            return
        if self.error is not None:
            future.set_exception(CommandError(self.error, self.text))
        else:
            future.set_result(self.lines)

    def fail(self, exc: BaseException) -> None:
        """The command will never be acknowledged."""
        if not self.future.done():
            self.future.set_exception(exc)


class MarlinProtocol:
    """The host side of Marlin's serial protocol over one transport (see docs/printer-link.md)."""

    def __init__(self, config: LinkConfig | None = None) -> None:
        self.config = config or LinkConfig()
        self.listeners = Listeners()
        self.machine = StateMachine()
        self.machine.listeners.append(self.listeners.fire_state)
        self.firmware = FirmwareInfo()
        #: message of the last fatal error (None when there was none)
        self.error: str | None = None
        self.transport: Transport | None = None
        self.current_tool = 0
        self._flow = self._new_flow()
        self._queue: collections.deque[tuple[str, Command | None]] = collections.deque()
        self._poll_task: asyncio.Task[None] | None = None
        self._hellos_sent = self._hello_oks = 0
        self._lineno_error = False
        self._shutdown_task: asyncio.Task[None] | None = None
        self._resend_check: asyncio.TimerHandle | None = None
        self._pending: set[Command] = set()
        self._job: StreamJob | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._hello: asyncio.Future[None] | None = None
        self._pending_error: str | None = None
        self._last_error_kind: parser.ErrorKind | None = None
        self._resend_hold: asyncio.TimerHandle | None = None
        self._probe = False
        self._timeouts = 0
        self._last_rx = 0.0
        self._ok_clock = 0.0
        self._last_busy = 0.0
        self._closing = False
        self._handshaken = False
        self._poll_outstanding = False

    def _new_flow(self) -> LineFlow:
        cfg = self.config
        return LineFlow(
            history_size=cfg.history_size,
            rx_limit=cfg.rx_buffer_size,
            max_lines=cfg.max_inflight,
            pipelining=cfg.pipelining,
            max_consecutive_resends=cfg.max_consecutive_resends,
            optimistic_rx=cfg.optimistic_rx,
        )

    # ------------------------------------------------------------------ public state
    @property
    def state(self) -> PrinterState:
        """The current communication state."""
        return self.machine.state

    def set_state(self, state: PrinterState) -> None:
        """Move to `state` (checked against the transition table; for the job layer)."""
        self.machine.set(state)

    @property
    def is_operational(self) -> bool:
        """Connected and past the handshake (idle or running a job)."""
        return self._handshaken and self.machine.state not in (
            S.CONNECTING, S.ERROR, S.CLOSED, S.CLOSED_WITH_ERROR, S.OFFLINE
        )  # fmt: skip

    @property
    def job(self) -> StreamJob | None:
        """The running stream job, if any."""
        return self._job

    @property
    def inflight(self) -> int:
        """Lines written and not yet acknowledged."""
        return len(self._flow.inflight)

    # ------------------------------------------------------------------ connect / disconnect
    async def connect(self, transport: Transport) -> None:
        """Open `transport`, run the handshake (hello, M115, autoreports) and become OPERATIONAL.

        Raises `OSError` when the port cannot be opened and `CommunicationError` when the
        firmware does not answer; the state is then CLOSED_WITH_ERROR.
        """
        if self.transport is not None:
            await self.disconnect()
        self.transport = transport
        self.error = None
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

    # ------------------------------------------------------------------ sending
    def send(self, command: str) -> asyncio.Future[list[str]]:
        """Queue one command; the future resolves with its response lines on `ok`.

        It fails with `CommandError` (the firmware's message) when the firmware answered with
        an error, and with `LinkLost`/`FirmwareReset`/`FirmwareError` when the link went away.
        Comments are stripped; an empty command resolves at once.
        """
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        text = command.partition(";")[0].strip()
        if not text:
            future.set_result([])
            return future
        if self.transport is None or self.machine.state in (S.ERROR, S.CLOSED_WITH_ERROR):
            future.set_exception(NotConnected("printer is not connected"))
            return future
        cmd = Command(text, future)
        self._pending.add(cmd)
        future.add_done_callback(lambda _f: self._pending.discard(cmd))
        self._queue.append((text, cmd))
        self._wake.set()
        return future

    async def run_script(self, script: str | Sequence[str]) -> list[str]:
        """Send every line of `script` in order, stop at the first error; return all responses."""
        lines = script.splitlines() if isinstance(script, str) else list(script)
        responses: list[str] = []
        for line in lines:
            responses.extend(await self.send(line))
        return responses

    async def send_emergency(self, command: str) -> None:
        """Send `M112`, `M108`, `M410` or `M876 …` past every queue.

        `M112` is written plain and numbered, followed by heaters off; the link then goes to
        ERROR and closes (the firmware needs a reset). The others go straight to the wire when
        the firmware has the emergency parser, otherwise to the front of the queue.
        """
        text = command.partition(";")[0].strip()
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

    def start_stream(
        self,
        source: Iterable[str] | AsyncIterable[str],
        finish_script: Sequence[str] = (),
    ) -> StreamJob:
        """Start streaming `source` (raw G-code lines; comments/blank lines are skipped).

        The state goes to PRINTING; when the source is exhausted and every line acknowledged,
        `finish_script` runs in FINISHING and the state returns to OPERATIONAL. Control the
        job through the returned `StreamJob` (pause/resume/cancel, `done`).
        """
        if not self.is_operational or self._job is not None:
            raise NotConnected("printer is not ready for a job")
        job = StreamJob(self, source, finish_script)
        self._job = job
        if self.machine.state is not S.PRINTING:
            self.machine.set(S.PRINTING)
        self._wake.set()
        return job

    def fake_ack(self) -> None:
        """Take the oldest line in flight as acknowledged (to unstick a lost ok by hand)."""
        sent = self._flow.pop_oldest()
        if sent is not None:
            self._complete(sent)
        self._wake.set()

    # ------------------------------------------------------------------ used by StreamJob
    def _job_finished(self, job: StreamJob) -> None:
        if self._job is job:
            self._job = None

    async def _wait_drained(self) -> None:
        """Wait until nothing is in flight and nothing waits to be resent."""
        flow = self._flow
        while flow.inflight or flow.resending:
            if self.transport is None:
                raise LinkLost("disconnected")
            self._drained.clear()
            await self._drained.wait()

    # ------------------------------------------------------------------ handshake
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

    # ------------------------------------------------------------------ sender
    async def _send_loop(self, transport: Transport) -> None:
        wake = self._wake
        write = transport.write
        try:
            while True:
                await wake.wait()
                wake.clear()
                while True:
                    job = self._job
                    if job is not None and job.needs_refill():
                        await job.refill()
                    data = self._collect()
                    if data:
                        await write(data)
                        continue
                    job = self._job
                    if job is None or not job.needs_refill():
                        break  # nothing more to send until something wakes us
        except (TransportClosed, OSError) as exc:
            self._lost(f"write failed: {exc}")

    def _collect(self) -> bytes:
        """Take every line the window allows now: resends, queued commands, job lines."""
        flow = self._flow
        out: list[bytes] = []
        loop_time = asyncio.get_running_loop().time
        while True:
            if self._probe:
                # a numbered line past the window: its ok (ADVANCED_OK: with N) acknowledges
                # everything before it, or the firmware asks for what it missed
                self._probe = False
                sent = flow.numbered(self._probe_command(), None, False, False)
            elif flow.resending:
                if self._resend_hold is not None or not flow.room_for(0):
                    break
                sent = flow.next_resend()
                assert sent is not None
            elif self._queue:
                text, cmd = self._queue[0]
                # room is checked before framing: a framed line owns a number and must go next
                if not flow.room_for(len(text) + len(str(flow.next_line)) + 6):
                    break
                sent_or_none = self._prepare_command(text, cmd)
                if sent_or_none is None:
                    break
                sent = sent_or_none
                self._queue.popleft()
            else:
                job = self._job
                if job is None or job.halted:
                    break
                line = job.peek_line()
                if line is None:
                    self._check_job_drained()
                    break
                if not flow.room_for(len(line) + len(str(flow.next_line)) + 6):
                    break
                job.take_line()
                code = line.split(" ", 1)[0].upper()
                long = code in LONG_RUNNING
                if code[0] == "T" and code[1:].isdigit():
                    self.current_tool = int(code[1:])
                # job lines are always numbered: they must survive line noise
                sent = flow.numbered(line, None, True, long, long or code in BLOCKING)
                job.sent += 1
            if not flow.inflight:
                self._ok_clock = loop_time()
            flow.push(sent)
            out.append(sent.data)
        return b"".join(out)

    def _probe_command(self) -> str:
        """M114 when oks carry N (M105 answers `ok T:…` without N), else M105."""
        return "M114" if self.firmware.advanced_ok else "M105"

    def _prepare_command(self, text: str, cmd: Command | None) -> Sent | None:
        """Frame a queued command (None: it has to wait, e.g. an M110 behind lines in flight)."""
        flow = self._flow
        code = gcode_code(text)
        long = code in LONG_RUNNING
        if code == "M110":
            if flow.inflight:
                return None
            number = m110_number(text) or 0
            flow.reset_numbering(number)
            sent = flow.numbered(f"M110 N{number}", cmd, False, long)
            return sent
        if code is not None and code[0] == "T" and code[1:].isdigit():
            self.current_tool = int(code[1:])
        if self.config.checksum == "always" or self._job is not None or not self.firmware.name:
            return flow.numbered(text, cmd, False, long, code in BLOCKING)
        return flow.plain(text, cmd, False, long)

    # ------------------------------------------------------------------ reader
    async def _read_loop(self, transport: Transport) -> None:
        readline = transport.readline
        listeners = self.listeners.line
        clock = asyncio.get_running_loop().time
        try:
            while True:
                raw = await readline()
                self._last_rx = clock()
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                if listeners:
                    try:
                        for listener in listeners:
                            listener(line)
                    except Exception:
                        log.exception("printer line listener failed")
                if line.startswith("ok"):
                    self._on_ok(line)
                else:
                    self._handle_line(line)
        except TransportClosed as exc:
            self._lost(f"connection lost: {exc}")
        except Exception as exc:  # a bug must not leave callers hanging forever
            log.exception("printer reader crashed")
            self._lost(f"reader failed: {exc!r}")

    def _on_ok(self, line: str) -> None:
        number: int | None = None
        free: int | None = None
        planner: int | None = None
        if len(line) > 2:
            rest = line[2:]
            for token in rest.split():
                head = token[0]
                if head == "N" and token[1:].isdigit():
                    number = int(token[1:])
                elif head == "B" and token[1:].isdigit():
                    free = int(token[1:])
                elif head == "P" and token[1:].isdigit():
                    planner = int(token[1:])
                    self.firmware.advanced_ok = True
            if ":" in rest:
                self._parse_reports(rest.strip())
        if self._hello is not None:
            self._hello_oks += 1
            if not self._hello.done():
                self._hello.set_result(None)
            return
        self._ok_clock = self._last_rx
        self._timeouts = 0
        flow = self._flow
        if self._resend_hold is not None and (number is None or number >= flow.resend_next):
            # the firmware sends an ok after Resend: remember, and swallow this one
            self.firmware.ok_after_resend = True
            self._release_resend()
            return
        if free is not None and free + 1 > self.firmware.buffer_size:
            self.firmware.buffer_size = free + 1
        if number is None and self.firmware.advanced_ok and (free is not None or len(line) == 2):
            inflight = flow.inflight
            if not inflight or inflight[0].n >= 0:
                # ADVANCED_OK acks of numbered lines carry N. Without one, this ok belongs to
                # no numbered line: the ok some firmwares add after `Resend:`, or the answer to
                # a line fragment left over from a receive-buffer flush
                flow.credit(free, planner)
                self._wake.set()
                return
        done = flow.ack(number, free, planner)
        for sent in done:
            cmd = sent.cmd
            if cmd is not None:
                if line != "ok" and ":" in line and sent is done[-1]:
                    cmd.lines.append(line)
                cmd.finish()
            elif sent.job:
                job = self._job
                if job is not None:
                    job.acked += 1
        if not flow.inflight:
            self._drained.set()
            if self._job is not None:
                self._check_job_drained()
        self._wake.set()

    def _complete(self, sent: Sent) -> None:
        if sent.cmd is not None:
            sent.cmd.finish()
        elif sent.job and self._job is not None:
            self._job.acked += 1

    def _head_command(self) -> Command | None:
        inflight = self._flow.inflight
        if inflight:
            cmd = inflight[0].cmd
            if isinstance(cmd, Command):
                return cmd
        return None

    def _handle_line(self, line: str) -> None:
        if self._pending_error is not None:
            joined = f"{self._pending_error} - {line}"
            self._pending_error = None
            self._on_error(joined)
            return
        if parser.is_error_line(line):
            text = parser.error_text(line)
            if parser.error_continues(text):
                self._pending_error = text
            else:
                self._on_error(text)
            return
        head = line[:2]
        if head in ("Re", "re", "rs", "RS") and (resend := parser.parse_resend(line)) is not None:
            self._on_resend(resend)
            return
        if line == "wait":
            self._on_wait()
            return
        if line == "start":
            self._on_start()
            return
        if "busy:" in line:
            self._on_busy()
            return
        if head == "//":
            action = parser.parse_action(line)
            if action is not None:
                self.listeners.fire_action(*action)
            return
        if line.startswith("Cap:"):
            capability = parser.parse_capability(line)
            if capability is not None:
                self.firmware.capabilities[capability[0]] = capability[1]
            return
        if line.startswith("FIRMWARE_NAME:"):
            self.firmware.fields.update(parser.parse_firmware_line(line))
            return
        if "Unknown command" in line:
            cmd = self._head_command()
            # a `*` marks a fragment of one of our framed lines (cut by a receive-buffer flush
            # after a line error): the firmware's answer to it is not the command's
            if cmd is not None and "*" not in line:
                cmd.error = line.partition(":")[2].strip() if line.startswith("echo:") else line
            return
        cmd = self._head_command()
        if cmd is not None:
            cmd.lines.append(line)
        if ":" in line or "SD" in line or "Done" in line or "File" in line:
            self._parse_reports(line)

    def _parse_reports(self, line: str) -> None:
        """Temperature, position and SD reports (on their own line or after `ok`)."""
        if parser.is_temperature_line(line):
            temps = parser.parse_temperatures(line, self.current_tool)
            if temps:
                self.listeners.fire_temperature(temps)
            return
        if "X:" in line and "Y:" in line:
            position = parser.parse_position(line)
            if position is not None:
                self.listeners.fire_position(position)
                return
        sd = self.listeners.sd
        if not sd:
            return
        if (progress := parser.parse_sd_progress(line)) is not None:
            self.listeners.fire_sd("progress", {"pos": progress[0], "size": progress[1]})
        elif line.startswith("Not SD printing"):
            self.listeners.fire_sd("not_printing", {})
        elif line.startswith("Done printing file"):
            self.listeners.fire_sd("done", {})
        elif (opened := parser.parse_file_opened(line)) is not None:
            self.listeners.fire_sd("file_opened", {"name": opened[0], "size": opened[1]})
        elif line.startswith("File selected"):
            self.listeners.fire_sd("file_selected", {})
        elif line in ("SD card ok", "Card successfully initialized"):
            self.listeners.fire_sd("card_ok", {})

    # ------------------------------------------------------------------ line handlers
    def _on_error(self, text: str) -> None:
        kind = parser.classify_error(text)
        self._last_error_kind = kind
        if kind is parser.ErrorKind.COMMUNICATION:
            low = text.lower()
            self._lineno_error = "line number" in low or "expected line" in low
            return  # a resend request follows
        if kind is parser.ErrorKind.MISSING_LINE_NUMBER:
            # OctoPrint's rule: carry on as if acknowledged; the next line triggers a resend
            self.fake_ack()
            return
        cmd = self._head_command()
        if kind in (parser.ErrorKind.SD, parser.ErrorKind.UNKNOWN_COMMAND) or (
            not self.config.disconnect_on_errors and "kill() called" not in text
        ):
            if cmd is not None:
                cmd.error = text
            self.listeners.fire_error(text, False)
            if kind is parser.ErrorKind.FATAL and self._job is not None:
                self._job.fail(FirmwareError(text))
            return
        asyncio.get_running_loop().create_task(self._fatal(text))

    def _on_resend(self, line_number: int) -> None:
        flow = self._flow
        # only a line-number error can be a repeat caused by lines already in transit
        after_lineno = (
            self._last_error_kind is parser.ErrorKind.COMMUNICATION and self._lineno_error
        )
        outcome = flow.request_resend(line_number, after_lineno, self.firmware.advanced_ok)
        self._last_error_kind = None
        self._lineno_error = False
        if outcome is ResendOutcome.STARTED:
            for sent in flow.dropped:
                self._complete(sent)
            ok_after = self.firmware.ok_after_resend
            if ok_after is None and not flow.inflight and not self.firmware.advanced_ok:
                # learn whether this firmware sends an ok after Resend: (Marlin 1.x) or not
                loop = asyncio.get_running_loop()
                self._resend_hold = loop.call_later(
                    self.config.timeout_resend_ok, self._resend_ok_timeout
                )
            elif ok_after and not self.firmware.advanced_ok:
                flow.swallow_oks += 1
            self._wake.set()
        elif outcome is ResendOutcome.DUPLICATE:
            if self.firmware.ok_after_resend and not self.firmware.advanced_ok:
                flow.swallow_oks += 1
            if flow.resend_next > line_number:
                # the flush that came with this repeat may have eaten the copy we resent
                if self._resend_check is not None:
                    self._resend_check.cancel()
                self._resend_check = asyncio.get_running_loop().call_later(
                    self.config.timeout_resend_check, self._check_resend, line_number
                )
        elif outcome is ResendOutcome.LOOP:
            self._give_up(f"resend loop: line {line_number} requested too often")
        elif outcome is ResendOutcome.NO_HISTORY:
            message = f"Should resend line {line_number} but no sufficient history is available"
            if self._job is not None:
                self._give_up(message)
            else:
                log.warning(message)

    def _check_resend(self, line_number: int) -> None:
        """Our resent line was not acknowledged in time: send it (and what follows) again."""
        self._resend_check = None
        flow = self._flow
        base = flow.next_line - len(flow.history)
        if flow.highest_acked < line_number and base <= line_number < flow.next_line:
            flow.rewind(line_number, self.firmware.advanced_ok)
            flow.forget_duplicates()
            for sent in flow.dropped:
                self._complete(sent)
            self._wake.set()

    def _resend_ok_timeout(self) -> None:
        if self._resend_hold is not None:
            self.firmware.ok_after_resend = False
            self._release_resend()

    def _release_resend(self) -> None:
        if self._resend_hold is not None:
            self._resend_hold.cancel()
            self._resend_hold = None
        self._wake.set()

    def _on_wait(self) -> None:
        if self._hello is not None:
            if not self._hello.done():
                self._hello.set_result(None)
            return
        # Marlin idles with an empty buffer: while streaming, that is as good as an ok
        if self._job is not None and self._flow.inflight:
            self._on_ok("ok")

    def _on_busy(self) -> None:
        self._last_busy = self._last_rx
        if not self.firmware.busy_protocol:
            self.firmware.busy_protocol = True
            interval = max(int(self.config.timeout_communication_busy) - 1, 1)
            self.send(f"M113 S{interval}").add_done_callback(_ignore_result)

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

    # ------------------------------------------------------------------ timeouts
    def _comm_timeout(self) -> float:
        cfg = self.config
        if self.firmware.busy_protocol:
            return cfg.timeout_communication_busy
        return cfg.timeout_communication

    async def _watchdog(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            timeout = self._comm_timeout()
            flow = self._flow
            if self._hello is not None:
                await asyncio.sleep(timeout)
                continue
            if flow.inflight:
                head = flow.inflight[0]
                if head.long and not self.firmware.busy_protocol:
                    # no keepalives: a long command may take as long as it takes
                    self._ok_clock = now
                deadline = max(self._ok_clock, self._last_busy) + timeout
            else:
                poll = self.config.temperature_autoreport or self.config.temperature_poll
                deadline = self._last_rx + max(timeout, poll + 1)
            if now < deadline:
                # re-check at least every quarter timeout: lines may go out meanwhile
                await asyncio.sleep(min(deadline - now, timeout / 4))
                continue
            if not self._on_timeout():
                return

    def _on_timeout(self) -> bool:
        """Recover from a timeout; False when the link gives up."""
        flow = self._flow
        cfg = self.config
        self._timeouts += 1
        if not flow.inflight:
            limit = cfg.max_timeouts_idle
        elif flow.inflight[0].long:
            limit = cfg.max_timeouts_long
        elif self.machine.state in JOB_STATES:
            limit = cfg.max_timeouts_printing
        else:
            limit = cfg.max_timeouts_idle
        if self._timeouts > limit:
            self._give_up("Too many consecutive timeouts, printer still connected and alive?")
            return False
        log.info("printer communication timeout %d/%d", self._timeouts, limit)
        now = asyncio.get_running_loop().time()
        self._ok_clock = self._last_rx = now
        flow.shrink()
        flow.forget_duplicates()
        self._release_resend()
        if flow.inflight and not self.firmware.advanced_ok:
            # one line in flight and its ok lost: take it as acknowledged
            sent = flow.pop_oldest()
            if sent is not None:
                self._complete(sent)
            if not flow.inflight:
                self._drained.set()
        if not self._queue and (self._job is None or self._job.halted):
            self._probe = True
        elif self.firmware.advanced_ok:
            self._probe = True
        self._wake.set()
        return True

    # ------------------------------------------------------------------ failures
    def _check_job_drained(self) -> None:
        job = self._job
        flow = self._flow
        if job is not None and job.exhausted and not flow.inflight and not flow.resending:
            job.source_drained()

    def _fail_all(self, exc: BaseException) -> None:
        """Fail every pending command and the job; forget every line in flight."""
        for timer in (self._resend_hold, self._resend_check):
            if timer is not None:
                timer.cancel()
        self._resend_hold = self._resend_check = None
        self._flow.clear()
        self._queue.clear()
        for cmd in list(self._pending):
            cmd.fail(exc)
        self._pending.clear()
        job = self._job
        if job is not None:
            job.fail(exc)
        self._drained.set()

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


def _ignore_result(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
