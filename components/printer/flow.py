"""Line bookkeeping of the link: numbering, resend history, lines in flight, credits and resends.

Pure, synchronous logic (no I/O), so the hot path stays cheap and every rule is unit-testable.

Flow control: without ADVANCED_OK exactly one line is in flight. With it, each `ok N<n> P<p>
B<b>` says how many command-buffer slots are free (B) and how many planner blocks (P); the
buffer size is learnt as `max(B) + 1`. Lines in flight are either already in the command buffer
or on their way through the firmware's receive (RX) buffer, whose `rx_limit` bytes must never
overflow. The oldest `size - B - 1` lines in flight are known to sit in the command buffer.
Marlin moves arriving lines into free buffer slots between commands, so while the planner has
room for every line in flight and none of them blocks the firmware (homing, heating, dwell,
M400, arcs), the oldest `size - 1` lines count as buffered; otherwise only the known ones do.
The bytes of the other lines must fit in `rx_limit`. After a resend or a timeout the window
drops to one line and grows back by one per acknowledgement.
"""

from __future__ import annotations

import collections
import enum
from typing import Any

from .framing import frame


class Sent:
    """A line written (or to be written) to the firmware."""

    __slots__ = ("blocks", "cmd", "data", "job", "long", "n", "size")

    def __init__(
        self, n: int, data: bytes, cmd: Any, job: bool, long: bool, blocks: bool = False
    ) -> None:
        #: line number, -1 for an unnumbered line
        self.n = n
        self.data = data
        self.size = len(data)
        #: the `Command` awaiting this line's ok (None for job lines)
        self.cmd = cmd
        #: the line belongs to the streaming job
        self.job = job
        #: a long-running command (its ok may take minutes)
        self.long = long
        #: the command may stop the firmware from reading further lines for a while
        self.blocks = blocks or long


class ResendOutcome(enum.Enum):
    """What `LineFlow.request_resend` decided."""

    STARTED = "started"
    #: a repeat of the current request caused by lines that were already in transit
    DUPLICATE = "duplicate"
    #: nothing was sent with that number (or later): nothing to resend
    NOTHING = "nothing"
    NO_HISTORY = "no_history"
    LOOP = "loop"


class LineFlow:
    """Numbering, history, in-flight lines, the send window and the resend cursor."""

    def __init__(
        self,
        history_size: int = 200,
        rx_limit: int = 128,
        max_lines: int = 16,
        pipelining: bool = True,
        max_consecutive_resends: int = 10,
        optimistic_rx: bool = True,
    ) -> None:
        self.history: collections.deque[Sent] = collections.deque(maxlen=history_size)
        self.inflight: collections.deque[Sent] = collections.deque()
        self.rx_limit = rx_limit
        self.max_lines = max_lines
        self.pipelining = pipelining
        self.max_consecutive_resends = max_consecutive_resends
        self.optimistic_rx = optimistic_rx
        #: lines currently allowed in flight, and the most it may grow to
        self.window = 1
        self.max_window = 1
        #: command-buffer size learnt from ADVANCED_OK
        self.buffer_size = 1
        #: bytes of every line in flight, lines in flight that may block the firmware
        self.inflight_bytes = 0
        self.blocking = 0
        #: from the last ADVANCED_OK: lines known to be buffered, free planner blocks
        self._buffered = 0
        self.planner_free = 0
        self.next_line = 1
        #: the highest line number acknowledged since the last M110
        self.highest_acked = 0
        self.resend_next = 0
        self.resend_end = 0
        self._last_resend = -1
        self._same_resend = 0
        self._duplicates = 0
        #: plain oks to ignore (firmwares that send `ok` after `Resend:`)
        self.swallow_oks = 0
        #: unnumbered lines dropped from flight by the last resend (their ok will never come)
        self.dropped: list[Sent] = []

    # numbering ---------------------------------------------------------------------------
    def reset_numbering(self, next_line: int) -> None:
        """After `M110 N<k>`: the next line is `next_line` (= k + 1); forget the history."""
        self.next_line = next_line
        self.highest_acked = next_line - 1
        self.history.clear()
        self.resend_next = self.resend_end = 0
        self._last_resend = -1
        self._same_resend = self._duplicates = 0

    def numbered(
        self,
        command: str,
        cmd: Any = None,
        job: bool = False,
        long: bool = False,
        blocks: bool = False,
    ) -> Sent:
        """Frame `command` with the next line number and keep it in the history."""
        n = self.next_line
        self.next_line = n + 1
        sent = Sent(n, frame(n, command), cmd, job, long, blocks)
        self.history.append(sent)
        return sent

    @staticmethod
    def plain(command: str, cmd: Any = None, job: bool = False, long: bool = False) -> Sent:
        """An unnumbered line (not kept for resends)."""
        return Sent(-1, command.encode("ascii", "replace") + b"\n", cmd, job, long)

    # window ------------------------------------------------------------------------------
    def room_for(self, size: int) -> bool:
        """Whether a line of `size` bytes may be sent now."""
        inflight = self.inflight
        count = len(inflight)
        if not count:
            return True
        if count >= self.window:
            return False
        return self.rx_bytes() + size <= self.rx_limit

    def room_for_command(self, command: str) -> bool:
        """Whether `command`, framed with the next line number, may be sent now."""
        return self.room_for(len(command) + len(str(self.next_line)) + 6)

    def rx_bytes(self) -> int:
        """Bytes in flight that may have to wait in the firmware's RX buffer."""
        inflight = self.inflight
        count = len(inflight)
        buffered = self._buffered
        if self.optimistic_rx and self.planner_free > count and not self.blocking:
            buffered = self.buffer_size - 1
        total = self.inflight_bytes
        for index in range(min(buffered, count)):
            total -= inflight[index].size
        return total

    def push(self, sent: Sent) -> None:
        """Record `sent` as written and awaiting its ok."""
        self.inflight.append(sent)
        self.inflight_bytes += sent.size
        if sent.blocks:
            self.blocking += 1

    def shrink(self) -> None:
        """Fall back to one line in flight (after a resend or timeout)."""
        self.window = 1

    def _recount(self) -> None:
        """Recount bytes and blocking lines in flight (after lines left the list)."""
        total = 0
        blocking = 0
        for sent in self.inflight:
            total += sent.size
            if sent.blocks:
                blocking += 1
        self.inflight_bytes = total
        self.blocking = blocking

    # acknowledgements --------------------------------------------------------------------
    def ack(self, n: int | None, free: int | None, planner: int | None = None) -> list[Sent]:
        """Account for an `ok` (with its `N` and `B` when ADVANCED_OK); return acknowledged lines.

        With `N`, every line up to and including line `n` is acknowledged (earlier oks were
        lost); an `N` not in flight is stale (a duplicate, or the ok after a `Resend:`) and
        acknowledges nothing. A plain ok acknowledges the oldest line in flight.
        """
        inflight = self.inflight
        done: list[Sent] = []
        if n is not None:
            index = -1
            for position, sent in enumerate(inflight):
                if sent.n == n:
                    index = position
                    break
            if index < 0:
                self._credit(free, planner, matched=False)
                return done
            for _ in range(index + 1):
                done.append(inflight.popleft())
        elif self.swallow_oks > 0:
            self.swallow_oks -= 1
            return done
        elif inflight:
            done.append(inflight.popleft())
        for sent in done:
            self.inflight_bytes -= sent.size
            if sent.blocks:
                self.blocking -= 1
            if sent.n > self.highest_acked:
                self.highest_acked = sent.n
        if done and done[-1].n >= 0 and done[-1].n == self._last_resend:
            # the resent line arrived: later repeats of that request are genuine again
            self._duplicates = 0
            self._same_resend = 0
        self._credit(free, planner, matched=bool(done))
        return done

    def credit(self, free: int | None, planner: int | None) -> None:
        """Take the buffer report of an ok that acknowledges none of our lines."""
        self._credit(free, planner, matched=False)

    def _credit(self, free: int | None, planner: int | None, matched: bool) -> None:
        if free is not None:
            if free + 1 > self.buffer_size:
                self.buffer_size = free + 1
            # the acknowledged line still holds its slot while the ok is written
            self._buffered = max(0, self.buffer_size - free - 1)
            self.planner_free = planner if planner is not None else 0
            if self.pipelining:
                self.max_window = self.max_lines
        else:
            self._buffered = 0
            self.planner_free = 0
        if matched and self.window < self.max_window:
            self.window += 1
        elif self.window > self.max_window:
            self.window = self.max_window

    def pop_oldest(self) -> Sent | None:
        """Take the oldest line in flight as acknowledged (its ok was lost)."""
        if not self.inflight:
            return None
        sent = self.inflight.popleft()
        self._recount()
        return sent

    # resends -----------------------------------------------------------------------------
    @property
    def resending(self) -> bool:
        """Whether history lines are still waiting to be resent."""
        return self.resend_next < self.resend_end

    def request_resend(
        self, line: int, after_line_number_error: bool, numbered_oks: bool = False
    ) -> ResendOutcome:
        """Handle `Resend: <line>`: drop lost lines from flight and rewind to `line`.

        The firmware has received every line before `line`. With `numbered_oks` (ADVANCED_OK)
        those are taken off the flight list too (into `dropped`, for the caller to complete):
        a late ok for one of them is then merely stale, whereas waiting for an ok that was
        lost would block the resend behind the one-line window.
        """
        if line >= self.next_line:
            return ResendOutcome.NOTHING
        if line == self._last_resend and self._duplicates > 0 and after_line_number_error:
            self._duplicates -= 1
            return ResendOutcome.DUPLICATE
        if line == self._last_resend:
            self._same_resend += 1
        else:
            self._last_resend = line
            self._same_resend = 1
        if self._same_resend > self.max_consecutive_resends:
            return ResendOutcome.LOOP
        if line < self.next_line - len(self.history):
            return ResendOutcome.NO_HISTORY
        self.rewind(line, numbered_oks)
        return ResendOutcome.STARTED

    def rewind(self, line: int, numbered_oks: bool) -> None:
        """Resend from `line` on: lines from there are lost, lines before it were received."""
        inflight = self.inflight
        kept: collections.deque[Sent] = collections.deque()
        lost_after = 0
        cut = False
        dropped: list[Sent] = []
        for sent in inflight:
            if cut or sent.n >= line:
                cut = True
                if sent.n > line:
                    lost_after += 1
                elif sent.n < 0:
                    dropped.append(sent)
            elif numbered_oks:
                dropped.append(sent)
            else:
                kept.append(sent)
        self.dropped = dropped
        self.inflight = kept
        self._duplicates = lost_after
        self.resend_next = line
        self.resend_end = self.next_line
        self.window = 1
        self._recount()

    def next_resend(self) -> Sent | None:
        """The next history line to resend (the caller pushes it), or None when done."""
        if self.resend_next >= self.resend_end:
            return None
        base = self.next_line - len(self.history)
        sent = self.history[self.resend_next - base]
        self.resend_next += 1
        return sent

    def forget_duplicates(self) -> None:
        """Treat the next resend request as genuine (after a timeout)."""
        self._duplicates = 0

    def clear(self) -> list[Sent]:
        """Drop every line in flight and any pending resend; return what was in flight."""
        lost = list(self.inflight)
        self.inflight.clear()
        self._recount()
        self.resend_next = self.resend_end = 0
        self.window = 1
        self.swallow_oks = 0
        return lost
