"""Shared state of the printer link, its public state and command API, and common helpers.

The link is one class split over modules by concern, each layer building on the one below:
`LinkCore` (state, `send`) -> `LinkLifecycle` (connect, handshake, failures) -> `LinkRecovery`
(resends, timeouts, busy/wait) -> `MarlinProtocol` (sender, reader, line dispatch).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence

from moonlite.transport.base import Transport

from . import parser
from .command import Command
from .errors import CommandError, LinkLost, NotConnected, QueueFull
from .flow import LineFlow, Sent
from .framing import command_problem, fit_command, strip_comment
from .link_config import FirmwareInfo, LinkConfig
from .listeners import Listeners
from .state import PrinterState, StateMachine
from .stream import StreamJob

S = PrinterState


class LinkCore:
    """State and the command API of the link (see `MarlinProtocol`)."""

    error: str | None
    transport: Transport | None
    _queue: collections.deque[tuple[str, Command | None]]
    _poll_task: asyncio.Task[None] | None
    _shutdown_task: asyncio.Task[None] | None
    _resend_check: asyncio.TimerHandle | None
    _pending: set[Command]
    _job: StreamJob | None
    _tasks: list[asyncio.Task[None]]
    _hello: asyncio.Future[None] | None
    _pending_error: str | None
    _last_error_kind: parser.ErrorKind | None
    _resend_hold: asyncio.TimerHandle | None
    config: LinkConfig
    listeners: Listeners
    machine: StateMachine
    firmware: FirmwareInfo
    current_tool: int
    _flow: LineFlow
    _hellos_sent: int
    _hello_oks: int
    _lineno_error: bool
    _wake: asyncio.Event
    _drained: asyncio.Event
    _probe: bool
    _timeouts: int
    _last_rx: float
    _ok_clock: float
    _last_busy: float
    _closing: bool
    _handshaken: bool
    _poll_outstanding: bool

    def __init__(self, config: LinkConfig | None = None) -> None:
        self.config = config or LinkConfig()
        self.listeners = Listeners()
        self.machine = StateMachine()
        self.machine.listeners.append(self.listeners.fire_state)
        self.firmware = FirmwareInfo()
        #: message of the last fatal error (None when there was none)
        self.error = None
        #: the last link failure was the firmware halting (Klipper calls that "shutdown")
        self.firmware_halted = False
        self.transport = None
        self.current_tool = 0
        self._flow = self._new_flow()
        self._queue = collections.deque()
        self._poll_task = None
        self._hellos_sent = self._hello_oks = 0
        self._lineno_error = False
        self._shutdown_task = None
        self._resend_check = None
        self._pending = set()
        self._job = None
        self._tasks = []
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._hello = None
        self._pending_error = None
        self._last_error_kind = None
        self._resend_hold = None
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

    def send(self, command: str) -> asyncio.Future[list[str]]:
        """Queue one command; the future resolves with its response lines on `ok`.

        It fails with `CommandError` (the firmware's message) when the firmware answered with
        an error, with `LinkLost`/`FirmwareReset`/`FirmwareError` when the link went away and
        with `QueueFull` when `max_queued_commands` already wait for the wire.
        Comments are stripped; an empty command resolves at once.
        """
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        text = strip_comment(command)
        if not text:
            future.set_result([])
            return future
        if self.transport is None or self.machine.state in (S.ERROR, S.CLOSED_WITH_ERROR):
            future.set_exception(NotConnected("printer is not connected"))
            return future
        text = fit_command(text, self.config.max_line_length)
        problem = command_problem(text, self.config.max_line_length)
        if problem is not None:
            future.set_exception(CommandError(problem, text))
            return future
        if len(self._queue) >= self.config.max_queued_commands:
            future.set_exception(QueueFull("printer command queue full"))
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

    def fake_ack(self) -> None:
        """Take the oldest line in flight as acknowledged (to unstick a lost ok by hand)."""
        sent = self._flow.pop_oldest()
        if sent is not None:
            self._complete(sent)
        self._wake.set()

    def wake_sender(self) -> None:
        """Let the sender look for lines to send (after a job was released, …)."""
        self._wake.set()

    def _job_finished(self, job: StreamJob) -> None:
        if self._job is job:
            self._job = None

    async def wait_drained(self) -> None:
        """Wait until nothing is in flight and nothing waits to be resent."""
        flow = self._flow
        while flow.inflight or flow.resending:
            if self.transport is None:
                raise LinkLost("disconnected")
            self._drained.clear()
            await self._drained.wait()

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

    # implemented by the layers above ------------------------------------------------------
    async def _read_loop(self, transport: Transport) -> None:
        raise NotImplementedError

    async def _send_loop(self, transport: Transport) -> None:
        raise NotImplementedError

    async def _watchdog(self) -> None:
        raise NotImplementedError

    def _on_ok(self, line: str) -> None:
        raise NotImplementedError
