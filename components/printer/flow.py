"""Line bookkeeping of the link: numbering, resend history, lines in flight, credits and resends.

Pure, synchronous logic (no I/O), so the hot path stays cheap and every rule is unit-testable.

Flow control: without ADVANCED_OK exactly one line is in flight. With it, each `ok N<n> P<p>
B<b>` says how many command-buffer slots are free, so the buffer size is learnt as `max(B) + 1`.
Marlin moves received lines from its receive (RX) buffer into a free command-buffer slot at
once, so of the lines in flight the oldest `size - 1` end up in the command buffer (one slot
may still hold the line just acknowledged), and the rest wait in the RX buffer: their bytes
must fit in `rx_limit`. After a resend or a timeout the window drops to one line and grows back
by one per acknowledgement.
"""

from __future__ import annotations

import collections
import enum
from typing import Any

from moonlite.components.printer.framing import frame


class Sent:
    """A line written (or to be written) to the firmware."""

    __slots__ = ("cmd", "data", "job", "long", "n", "size")

    def __init__(self, n: int, data: bytes, cmd: Any, job: bool, long: bool) -> None:
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
    ) -> None:
        self.history: collections.deque[Sent] = collections.deque(maxlen=history_size)
        self.inflight: collections.deque[Sent] = collections.deque()
        self.rx_limit = rx_limit
        self.max_lines = max_lines
        self.pipelining = pipelining
        self.max_consecutive_resends = max_consecutive_resends
        #: lines currently allowed in flight, and the most it may grow to
        self.window = 1
        self.max_window = 1
        #: command-buffer size learnt from ADVANCED_OK
        self.buffer_size = 1
        self.rx_bytes = 0
        self.next_line = 1
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
        self.history.clear()
        self.resend_next = self.resend_end = 0
        self._last_resend = -1
        self._same_resend = self._duplicates = 0

    def numbered(
        self, command: str, cmd: Any = None, job: bool = False, long: bool = False
    ) -> Sent:
        """Frame `command` with the next line number and keep it in the history."""
        n = self.next_line
        self.next_line = n + 1
        sent = Sent(n, frame(n, command), cmd, job, long)
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
        if not inflight:
            return True
        return len(inflight) < self.window and self.rx_bytes + size <= self.rx_limit

    def push(self, sent: Sent) -> None:
        """Record `sent` as written and awaiting its ok."""
        inflight = self.inflight
        inflight.append(sent)
        if self.max_window == 1 or len(inflight) >= self.buffer_size:
            self.rx_bytes += sent.size

    def shrink(self) -> None:
        """Fall back to one line in flight (after a resend or timeout)."""
        self.window = 1

    def _recount(self) -> None:
        """Bytes of the lines in flight that must fit in the firmware's RX buffer."""
        inflight = self.inflight
        ring = self.buffer_size - 1 if self.max_window > 1 else 0
        total = 0
        for index, sent in enumerate(inflight):
            if index >= ring:
                total += sent.size
        self.rx_bytes = total

    # acknowledgements --------------------------------------------------------------------
    def ack(self, n: int | None, free: int | None) -> list[Sent]:
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
                self._credit(free, matched=False)
                return done
            for _ in range(index + 1):
                done.append(inflight.popleft())
        elif self.swallow_oks > 0:
            self.swallow_oks -= 1
            return done
        elif inflight:
            done.append(inflight.popleft())
        if done and done[-1].n >= 0 and done[-1].n == self._last_resend:
            # the resent line arrived: later repeats of that request are genuine again
            self._duplicates = 0
            self._same_resend = 0
        self._credit(free, matched=bool(done))
        return done

    def _credit(self, free: int | None, matched: bool) -> None:
        if free is not None:
            if free + 1 > self.buffer_size:
                self.buffer_size = free + 1
            if self.pipelining:
                self.max_window = self.max_lines
        if matched and self.window < self.max_window:
            self.window += 1
        elif self.window > self.max_window:
            self.window = self.max_window
        self._recount()

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
        return ResendOutcome.STARTED

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
        self.rx_bytes = 0
        self.resend_next = self.resend_end = 0
        self.window = 1
        self.swallow_oks = 0
        return lost
