"""The Marlin protocol engine: handshake, send queue, oks, resends, timeouts, reports, resets.

`MarlinProtocol` owns one `Transport`. Three tasks run while connected: the reader (every
received line goes through `_handle_line`), the sender (writes resends, then queued commands,
then job lines, as far as `LineFlow` allows) and the watchdog (timeouts). Everything else is
plain method calls on the event loop, so there is no locking.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Iterable, Sequence

from moonlite.transport.base import Transport, TransportClosed

from . import parser
from .command import Command
from .errors import CommandError, FirmwareError, NotConnected
from .flow import Sent
from .framing import (
    BLOCKING,
    FRAME_OVERHEAD,
    LONG_RUNNING,
    command_problem,
    fit_command,
    gcode_code,
    m110_number,
)
from .link_recovery import LinkRecovery
from .state import JOB_STATES, PrinterState
from .stream import StreamJob

log = logging.getLogger(__name__)
S = PrinterState


class MarlinProtocol(LinkRecovery):
    """The host side of Marlin's serial protocol over one transport (see docs/printer-link.md).

    Public API: `connect`, `disconnect`, `send`, `run_script`, `send_emergency`,
    `start_stream`, `fake_ack`, `wait_drained`, `wake_sender`; `state`, `machine`,
    `firmware`, `listeners`, `error`, `job`, `inflight`.
    """

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
        except Exception as exc:  # a bug must not leave the link silently stuck
            log.exception("printer sender crashed")
            self._lost(f"sender failed: {exc!r}")

    def _collect(self) -> bytes:
        """Take every line the window allows now: resends, queued commands, job lines."""
        if self._hello is not None:
            return b""  # nothing but the hello goes out before the firmware answered it
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
                resent = flow.next_resend()
                assert resent is not None
                sent = resent
            elif self._queue:
                text, cmd = self._queue[0]
                # room is checked before framing: a framed line owns a number and must go next
                if not flow.room_for_command(text):
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
                if len(line) + FRAME_OVERHEAD > self.config.max_line_length:
                    line = fit_command(line, self.config.max_line_length)
                    problem = command_problem(line, self.config.max_line_length)
                    if problem is not None:
                        # sending it would end in a resend loop: the job fails, the link stays
                        job.take_line()
                        job.fail(CommandError(f"{problem}: {line[:40]}…", line))
                        if self.machine.state in JOB_STATES:
                            self.machine.set(S.OPERATIONAL)
                        break
                if not flow.room_for_command(line):
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
                # disconnect_on_errors is off: the job fails, the link stays up
                self._job.fail(FirmwareError(text))
                if self.machine.state in JOB_STATES:
                    self.machine.set(S.OPERATIONAL)
            return
        self._begin_fatal(text)
