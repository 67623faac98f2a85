"""The virtual Marlin board: RX buffer, line checks, command ring, main loop and output."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter, deque
from collections.abc import Coroutine
from typing import Any

from moonlite.virtual_printer import reports
from moonlite.virtual_printer.emergency import EmergencyParser
from moonlite.virtual_printer.framing import (
    ERR_CHECKSUM,
    ERR_LINE_NO,
    ERR_NO_CHECKSUM,
    Command,
    LineError,
    check_line,
    line_number_of,
)
from moonlite.virtual_printer.handlers import dispatch
from moonlite.virtual_printer.heaters import Heater
from moonlite.virtual_printer.keepalive import Keepalive
from moonlite.virtual_printer.motion import MotionState, Planner
from moonlite.virtual_printer.options import VirtualPrinterOptions
from moonlite.virtual_printer.rxbuffer import RxBuffer
from moonlite.virtual_printer.sdcard import SdCard


class VirtualPrinter:
    """A simulated Marlin 2.x board speaking the serial protocol.

    Bytes from the host go in through `receive`; output lines (with `\\n`) come out of
    `read_output`, which returns None when the firmware drops the link (fault injection).
    A link calls `connect()` when it opens (that resets the board, like DTR does) and
    `disconnect()` when it closes. `executed` lists every command run, in order.
    """

    def __init__(self, options: VirtualPrinterOptions | None = None) -> None:
        self.options = options or VirtualPrinterOptions()
        seed = self.options.seed
        self._rng_corrupt = random.Random(seed)
        self._rng_ok = random.Random(seed + 1)
        self._rng_busy = random.Random(seed + 2)
        self.executed: list[str] = []
        self.received: list[str] = []
        self.print_time = 0.0  # simulated seconds of motion and dwell, unscaled
        self.stats: Counter[str] = Counter()
        self.connected = False
        self.link_owner: object | None = None  # the link currently attached
        self.booted = False
        self.killed = False
        self.prompt_response: int | None = None
        self._fired: set[str] = set()
        self._out: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reporters: dict[str, asyncio.Task[None]] = {}
        self._generation = 0
        self.sd = SdCard(self.options.sd_dir)
        self._init_state()

    # -- state ------------------------------------------------------------------------------

    def _init_state(self) -> None:
        """Power-on state (also after a reset)."""
        o = self.options
        self.last_n = 0
        parser = EmergencyParser(self._on_emergency) if o.emergency_parser else None
        self.rx = RxBuffer(o.rx_buffer_bytes, o.max_cmd_size - 1, parser, o.drop_rx_overflow)
        self.ring: deque[Command] = deque()
        self.motion = MotionState()
        self.planner = Planner(o.planner_blocks, time.monotonic)
        heat = (o.ambient, o.heat_rate, o.cool_rate)
        self.hotends = [Heater(f"T{i}", *heat) for i in range(o.tools)]
        self.bed = Heater("B", o.ambient, o.bed_heat_rate, o.cool_rate) if o.bed else None
        self.chamber = Heater("C", o.ambient, o.bed_heat_rate, o.cool_rate) if o.chamber else None
        now = time.monotonic()
        for heater in self.heaters:
            heater.update(now, 1.0)
        self.active_tool = 0
        self.fans: dict[int, int] = {0: 0}
        self.message = ""
        self.progress: float | None = None
        self.settings: dict[str, dict[str, float]] = {
            "M92": dict(zip("XYZE", o.steps_per_mm, strict=True)),
            "M203": dict(zip("XYZE", o.max_feedrate, strict=True)),
            "M201": dict(zip("XYZE", o.max_acceleration, strict=True)),
            "M204": {"P": 500.0, "R": 1000.0, "T": 500.0},
            "M205": {"B": 20000.0, "S": 0.0, "T": 0.0, "J": 0.013},
        }
        self.sd.close_file()
        self.sd.close_writer()
        self._wake = asyncio.Event()
        self._cancel_wait = asyncio.Event()
        self.keepalive = Keepalive(self.emit, o.busy_interval, o.interval_scale)

    @property
    def heaters(self) -> list[Heater]:
        """Every heater: hotends, then bed and chamber when present."""
        extra = [h for h in (self.bed, self.chamber) if h is not None]
        return [*self.hotends, *extra]

    def tool_heater(self, index: int | None = None) -> Heater | None:
        """The hotend `index` (the active one when None), None when out of range."""
        i = self.active_tool if index is None else index
        return self.hotends[i] if 0 <= i < len(self.hotends) else None

    # -- link side --------------------------------------------------------------------------

    def connect(self) -> None:
        """A host opened the link (resets the board when `reset_on_connect`)."""
        self.connected = True
        if self.options.reset_on_connect or not self.booted:
            self.reset()

    def disconnect(self) -> None:
        """The host closed the link: pending output and input are dropped."""
        self.connected = False
        self.rx.clear()
        while not self._out.empty():
            self._out.get_nowait()

    def receive(self, data: bytes) -> None:
        """Bytes arriving from the host (after any link pacing)."""
        if not data or self.killed:
            return
        lost = self.rx.overflowed
        self.rx.feed(data)
        if self.rx.overflowed != lost:
            self.stats["rx_overflow_bytes"] += self.rx.overflowed - lost
        self._wake.set()

    async def read_output(self) -> bytes | None:
        """The next output line (with `\\n`); None when the firmware drops the link."""
        return await self._out.get()

    def emit(self, line: str) -> None:
        """Write one line to the host."""
        if self.connected:
            self._out.put_nowait(line.encode("latin-1", "replace") + b"\n")

    def action(self, name: str, *args: str) -> None:
        """Send a host action command, e.g. `action("pause")` -> `//action:pause`."""
        self.emit("//action:" + " ".join((name, *args)))

    # -- lifecycle --------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _halt_tasks(self) -> None:
        self._generation += 1
        for task in list(self._tasks):
            task.cancel()
        self._reporters.clear()

    def reset(self) -> None:
        """Reboot the board: state cleared, line number 0, `start` banner after `boot_delay`."""
        self._halt_tasks()
        self.killed = False
        self._init_state()
        self._spawn(self._boot())

    async def _boot(self) -> None:
        if self.options.boot_delay > 0:
            await asyncio.sleep(self.options.boot_delay)
        o = self.options
        self.emit("start")
        self.emit(f"echo:Marlin {o.firmware_version}")
        self.emit("echo: Last Updated: 2024-06-28 | Author: (moonlite, virtual printer)")
        self.emit("echo:Compiled: Jun 28 2024")
        self.emit(f"echo: Free Memory: 4096  PlannerBufferBytes: {o.planner_blocks * 88}")
        if self.sd.mounted:
            self.emit("echo:SD card ok")
        self.booted = True
        self._spawn(self._main_loop())
        self._spawn(self.keepalive.run())

    def kill(self, message: str | None = None) -> None:
        """Marlin's kill(): optional error line, `Printer halted`, then silence until reset."""
        if self.killed:
            return
        self._halt_tasks()
        self.killed = True
        for heater in self.heaters:
            heater.target = 0.0
        self.ring.clear()
        self.rx.clear()
        if message:
            self.emit(f"Error:{message}")
        self.emit("Error:Printer halted. kill() called!")

    def drop_link(self) -> None:
        """Fault: the board vanishes from the bus (the link sees a disconnect)."""
        self._halt_tasks()
        self._out.put_nowait(None)
        self.connected = False
        self.booted = False  # it comes back only through a reset

    async def close(self) -> None:
        """Stop every task and close files (a later `connect()` boots the board again)."""
        self._halt_tasks()
        self.booted = False
        tasks = list(self._tasks)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.sd.close_file()
        self.sd.close_writer()

    # -- receive path -----------------------------------------------------------------------

    def _on_emergency(self, code: int, value: int | None) -> None:
        if code == 112:
            self.kill()
        elif code == 410:
            self.quickstop()
        elif code == 876:
            self.release_wait(value)
        else:  # M108
            self.release_wait(None)

    def release_wait(self, response: int | None) -> None:
        """M108 / M876: end a heating or user wait (`response` = the prompt button)."""
        if response is not None:
            self.prompt_response = response
        self._cancel_wait.set()

    def quickstop(self) -> None:
        """M410: drop planned moves; the position becomes where the machine stopped."""
        machine = self.planner.quickstop()
        offset = self.motion.offset
        self.motion.position = [m + o for m, o in zip(machine, offset, strict=True)]

    def _fill_ring(self) -> None:
        """Marlin's get_available_commands: serial lines, then SD lines, while there is room."""
        generation = self._generation
        size = self.options.buffer_size
        while len(self.ring) < size:
            raw = self.rx.read_line()
            if raw is None:
                break
            self._handle_line(raw)
            if generation != self._generation:
                return
        while self.sd.printing and len(self.ring) < size:
            text = self.sd.read_command()
            if text is None:
                self.sd.printing = False
                self.ring.append(Command("M1001", from_serial=False, internal=True))
                break
            self.ring.append(Command(text, from_serial=False))

    def _record(self, log: list[str], line: str) -> None:
        log.append(line)
        if len(log) > self.options.record_limit:
            # a long-running embedded printer must not grow without bound: drop the oldest tenth
            del log[: max(1, self.options.record_limit // 10)]

    def _handle_line(self, raw: str) -> None:
        self._record(self.received, raw)
        number = line_number_of(raw)
        if self.sd.writer is not None and number is None and "M29" not in raw:
            self._line_error(ERR_NO_CHECKSUM)
            return
        try:
            received = check_line(raw, self.last_n)
        except LineError as error:
            if (
                self.options.ignore_duplicate_lines
                and error.message == ERR_LINE_NO
                and number is not None
                and self.last_n - 1 <= number <= self.last_n
            ):
                self.stats["duplicates_ignored"] += 1
                return
            self._line_error(error.message)
            return
        if received is None:
            return
        if received.line_number is not None:
            rate = self.options.corrupt_rate
            if rate and self._rng_corrupt.random() < rate:
                self.stats["corrupted"] += 1
                self._line_error(ERR_CHECKSUM)
                return
            self.last_n = received.line_number
            if self._fault_at(received.line_number):
                return
        command = Command(received.text, received.line_number)
        if not self.options.emergency_parser and command.code in ("M108", "M112", "M410"):
            # without the emergency parser, Marlin acts on these as soon as it reads them
            self._on_emergency(int(command.code[1:]), None)
            if self.killed:
                return
        self.ring.append(command)

    def _fault_at(self, number: int) -> bool:
        o = self.options
        if number == o.reset_at_line and "reset" not in self._fired:
            self._fired.add("reset")
            self.reset()
            return True
        if number == o.kill_at_line and "kill" not in self._fired:
            self._fired.add("kill")
            self.kill(o.kill_message)
            return True
        if number == o.disconnect_at_line and "disconnect" not in self._fired:
            self._fired.add("disconnect")
            self.drop_link()
            return True
        return False

    def _line_error(self, message: str) -> None:
        self.stats["line_errors"] += 1
        self.emit(f"Error:{message}{self.last_n}")
        # Marlin flushes its RX buffer: every byte already received is lost
        self.rx.flush()
        self.emit(f"Resend: {self.last_n + 1}")
        if self.options.ok_after_resend:
            self.emit("ok")

    # -- execution --------------------------------------------------------------------------

    async def _main_loop(self) -> None:
        generation = self._generation
        o = self.options
        while True:
            self._fill_ring()
            if generation != self._generation:
                return
            if self.ring:
                command = self.ring[0]
                await self._process(command)
                if self.ring and self.ring[0] is command:
                    self.ring.popleft()
                await asyncio.sleep(0)
                continue
            self._wake.clear()
            self._fill_ring()
            if self.ring or generation != self._generation:
                continue
            if o.send_wait:
                try:
                    await asyncio.wait_for(self._wake.wait(), o.wait_interval * o.interval_scale)
                except TimeoutError:
                    self.emit("wait")
            else:
                await self._wake.wait()

    async def _process(self, command: Command) -> None:
        if self.sd.writer is not None and command.from_serial:
            if command.code == "M29":
                self.sd.close_writer()
                self.emit("Done saving file.")
            else:
                self.sd.writer.write(command.text.encode("latin-1") + b"\n")
            self.send_ok(command)
            return
        if not command.internal:
            self._record(self.executed, command.text)
        self.set_busy("processing")
        try:
            await dispatch(self, command)
        finally:
            self.set_busy(None)
        if self.options.busy_storm_rate and (
            self._rng_busy.random() < self.options.busy_storm_rate
        ):
            await self._busy_storm()
        if command.from_serial and not command.skip_ok:
            self.send_ok(command)

    def send_ok(self, command: Command) -> None:
        """Acknowledge a serial command (`ok`, or `ok N.. P.. B..` with ADVANCED_OK)."""
        rate = self.options.drop_ok_rate
        if rate and self._rng_ok.random() < rate:
            self.stats["dropped_oks"] += 1
            return
        if not self.options.advanced_ok:
            self.emit("ok")
            return
        n = f" N{command.line_number}" if command.line_number is not None else ""
        free = self.options.buffer_size - len(self.ring)
        self.emit(f"ok{n} P{self.planner.moves_free()} B{free}")

    async def _busy_storm(self) -> None:
        self.stats["busy_storms"] += 1
        end = time.monotonic() + self.options.busy_storm_duration
        while time.monotonic() < end:
            self.emit("echo:busy: processing")
            await asyncio.sleep(self.options.busy_storm_interval)

    # -- keepalive and waits ----------------------------------------------------------------

    def set_busy(self, state: str | None) -> None:
        """Enter/leave a busy state; `echo:busy: <state>` follows every keepalive interval."""
        self.keepalive.set(state)

    async def sleep_scaled(self, simulated: float) -> None:
        """Sleep for `simulated` seconds of printer time."""
        real = simulated * self.options.time_scale
        if real > 0:
            await asyncio.sleep(real)

    def arm_wait(self) -> None:
        """Start a wait that M108 (or an M876 answer) may cut short."""
        self._cancel_wait.clear()

    async def wait_cancelled(self, timeout: float) -> bool:
        """Wait up to `timeout` real seconds; True when M108/M876 cancelled the wait."""
        if self._cancel_wait.is_set():
            return True
        if timeout <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._cancel_wait.wait(), timeout)
        return self._cancel_wait.is_set()

    # -- autoreports ------------------------------------------------------------------------

    def temperature_report(self) -> str:
        """The heater states line (leading space, as Marlin prints it)."""
        return reports.temperatures(self)

    def position_report(self, real: bool = False) -> str:
        """The M114 line (commanded position, or executed when `real`)."""
        return reports.position(self, real)

    def sd_status(self) -> str:
        """The M27 line."""
        return reports.sd_status(self)

    def set_autoreport(self, kind: str, seconds: int) -> None:
        """M155/M154/M27 S: report `kind` ("temp", "pos", "sd") every `seconds` (0 = off)."""
        old = self._reporters.pop(kind, None)
        if old is not None:
            old.cancel()
        if seconds > 0:
            self._reporters[kind] = self._spawn(reports.autoreport(self, kind, seconds))
