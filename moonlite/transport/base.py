"""The line-transport interface every printer link speaks over."""

from __future__ import annotations

import abc


class TransportClosed(ConnectionError):
    """The link is closed (by us, by the peer, or because the device went away)."""


class Transport(abc.ABC):
    """A bidirectional byte link to a printer, read one line at a time.

    `readline` returns one line *without* its terminator (`\\n`, `\\r\\n` or `\\r`), as raw
    bytes so the protocol layer decides how to treat garbage. It raises `TransportClosed` when
    the link is gone. `write` sends bytes as given (the caller frames lines).
    """

    #: human-readable name of the endpoint (device path, socket URL, "VIRTUAL")
    name: str = ""

    @abc.abstractmethod
    async def open(self) -> None:
        """Open the link; raise `OSError` (or a subclass) when it cannot be opened."""

    @abc.abstractmethod
    async def readline(self) -> bytes:
        """Return the next received line without its terminator."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Send `data`; waits for the OS buffer to drain when it is full."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the link; idempotent; a pending `readline` raises `TransportClosed`."""

    @property
    @abc.abstractmethod
    def is_open(self) -> bool:
        """Whether the link is currently open."""
