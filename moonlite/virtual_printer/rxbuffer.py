"""The board's serial receive buffer: bounded, scanned by the emergency parser, read by line."""

from __future__ import annotations

import re

from moonlite.virtual_printer.emergency import EmergencyParser

_EOL = re.compile(rb"[\r\n]")


class RxBuffer:
    """Bytes between the wire and Marlin's command reader.

    `capacity` bytes sit in the board's buffer (where the emergency parser sees them as they
    arrive); the rest waits upstream (the USB stack / the host's kernel buffer) or, with
    `drop_overflow`, is lost as on a UART without flow control. Lines are read the way
    Marlin's reader consumes characters: a line longer than `max_line` is cut.
    """

    def __init__(
        self,
        capacity: int,
        max_line: int,
        emergency: EmergencyParser | None,
        drop_overflow: bool = False,
    ) -> None:
        self.capacity = capacity
        self.max_line = max_line
        self.emergency = emergency
        self.drop_overflow = drop_overflow
        self.overflowed = 0  # bytes lost to overflow
        self._board = bytearray()
        self._upstream = bytearray()
        self._partial = bytearray()

    def __len__(self) -> int:
        return len(self._board)

    def feed(self, data: bytes) -> None:
        """Bytes arriving from the wire."""
        self._upstream += data
        self._refill()
        if self.drop_overflow and self._upstream:
            self.overflowed += len(self._upstream)
            self._upstream.clear()

    def _refill(self) -> None:
        room = self.capacity - len(self._board)
        if room <= 0 or not self._upstream:
            return
        chunk = bytes(self._upstream[:room])
        del self._upstream[:room]
        if self.emergency is not None:
            self.emergency.feed(chunk)
        self._board += chunk

    def read_line(self) -> str | None:
        """The next complete non-empty line (terminator removed), None when there is none."""
        while True:
            if not self._board:
                self._refill()
                if not self._board:
                    return None
            match = _EOL.search(self._board)
            room = max(0, self.max_line - len(self._partial))
            if match is None:
                self._partial += self._board[:room]
                self._board.clear()
                continue
            end = match.start()
            line = bytes(self._partial) + bytes(self._board[: min(end, room)])
            del self._board[: end + 1]
            self._partial.clear()
            self._refill()
            if line.strip():
                return line.decode("latin-1")

    def flush(self) -> None:
        """Marlin's SERIAL_FLUSH after a line error: the board's buffer is emptied."""
        self._board.clear()
        self._partial.clear()
        if self.emergency is not None:
            self.emergency.reset()

    def clear(self) -> None:
        """Forget everything, upstream included (reset or disconnect)."""
        self.flush()
        self._upstream.clear()
