"""OctoPrint's communication states as an enum, with an explicit table of legal transitions."""

from __future__ import annotations

import enum
from collections.abc import Callable


class PrinterState(enum.Enum):
    """A communication state; the value is OctoPrint's state id (`get_state_id`)."""

    NONE = "NONE"
    OPEN_SERIAL = "OPEN_SERIAL"
    DETECT_SERIAL = "DETECT_SERIAL"
    DETECT_BAUDRATE = "DETECT_BAUDRATE"
    CONNECTING = "CONNECTING"
    OPERATIONAL = "OPERATIONAL"
    STARTING = "STARTING"
    PRINTING = "PRINTING"
    PAUSING = "PAUSING"
    PAUSED = "PAUSED"
    RESUMING = "RESUMING"
    CANCELLING = "CANCELLING"
    FINISHING = "FINISHING"
    TRANSFERING_FILE = "TRANSFERING_FILE"
    CLOSED = "CLOSED"
    ERROR = "ERROR"
    CLOSED_WITH_ERROR = "CLOSED_WITH_ERROR"
    OFFLINE = "OFFLINE"
    UNKNOWN = "UNKNOWN"

    @property
    def text(self) -> str:
        """OctoPrint's human-readable state string (`get_state_string`)."""
        return _TEXT[self]


_TEXT: dict[PrinterState, str] = {
    PrinterState.NONE: "Offline",
    PrinterState.OPEN_SERIAL: "Opening serial connection",
    PrinterState.DETECT_SERIAL: "Detecting serial connection",
    PrinterState.DETECT_BAUDRATE: "Detecting baudrate",
    PrinterState.CONNECTING: "Connecting",
    PrinterState.OPERATIONAL: "Operational",
    PrinterState.STARTING: "Starting",
    PrinterState.PRINTING: "Printing",
    PrinterState.PAUSING: "Pausing",
    PrinterState.PAUSED: "Paused",
    PrinterState.RESUMING: "Resuming",
    PrinterState.CANCELLING: "Cancelling",
    PrinterState.FINISHING: "Finishing",
    PrinterState.TRANSFERING_FILE: "Transferring file to SD",
    PrinterState.CLOSED: "Offline",
    PrinterState.ERROR: "Error",
    PrinterState.CLOSED_WITH_ERROR: "Offline after error",
    PrinterState.OFFLINE: "Offline",
    PrinterState.UNKNOWN: "Unknown State",
}

S = PrinterState
#: states with an open link to the printer
CONNECTED = frozenset(
    {S.CONNECTING, S.OPERATIONAL, S.STARTING, S.PRINTING, S.PAUSING, S.PAUSED, S.RESUMING,
     S.CANCELLING, S.FINISHING, S.TRANSFERING_FILE}
)  # fmt: skip
#: states in which a job is running (printing in OctoPrint's wider sense)
JOB_STATES = frozenset(
    {S.STARTING, S.PRINTING, S.PAUSING, S.PAUSED, S.RESUMING, S.CANCELLING, S.FINISHING}
)
#: states from which a new connection may be opened
_DISCONNECTED = frozenset({S.NONE, S.OFFLINE, S.CLOSED, S.CLOSED_WITH_ERROR, S.ERROR})
_OPENING = frozenset({S.OPEN_SERIAL, S.DETECT_SERIAL, S.DETECT_BAUDRATE})
#: every connected or opening state may fail or be closed
_ENDINGS = frozenset({S.ERROR, S.CLOSED, S.CLOSED_WITH_ERROR})

TRANSITIONS: dict[PrinterState, frozenset[PrinterState]] = {
    **{s: frozenset({S.OPEN_SERIAL, S.DETECT_SERIAL}) for s in _DISCONNECTED},
    S.OPEN_SERIAL: frozenset({S.DETECT_SERIAL, S.DETECT_BAUDRATE, S.CONNECTING}) | _ENDINGS,
    S.DETECT_SERIAL: frozenset({S.OPEN_SERIAL, S.DETECT_BAUDRATE, S.CONNECTING}) | _ENDINGS,
    S.DETECT_BAUDRATE: frozenset({S.OPEN_SERIAL, S.CONNECTING}) | _ENDINGS,
    # CONNECTING -> CONNECTING: the firmware reset during the handshake
    S.CONNECTING: frozenset({S.OPERATIONAL}) | _ENDINGS,
    # OPERATIONAL -> CONNECTING: the firmware reset and the handshake runs again
    S.OPERATIONAL: frozenset({S.STARTING, S.PRINTING, S.TRANSFERING_FILE, S.CONNECTING})
    | _ENDINGS,
    S.STARTING: frozenset({S.PRINTING, S.CANCELLING, S.OPERATIONAL, S.CONNECTING}) | _ENDINGS,
    # PRINTING -> PAUSED: the firmware paused by itself (//action:paused, M600)
    S.PRINTING: frozenset(
        {S.PAUSING, S.PAUSED, S.CANCELLING, S.FINISHING, S.OPERATIONAL, S.CONNECTING}
    )
    | _ENDINGS,
    S.PAUSING: frozenset({S.PAUSED, S.CANCELLING, S.OPERATIONAL, S.CONNECTING}) | _ENDINGS,
    # PAUSED -> PRINTING: the firmware resumed by itself (//action:resumed)
    S.PAUSED: frozenset({S.RESUMING, S.PRINTING, S.CANCELLING, S.OPERATIONAL, S.CONNECTING})
    | _ENDINGS,
    S.RESUMING: frozenset({S.PRINTING, S.PAUSED, S.CANCELLING, S.OPERATIONAL, S.CONNECTING})
    | _ENDINGS,
    S.CANCELLING: frozenset({S.OPERATIONAL, S.CONNECTING}) | _ENDINGS,
    S.FINISHING: frozenset({S.OPERATIONAL, S.CONNECTING}) | _ENDINGS,
    S.TRANSFERING_FILE: frozenset({S.OPERATIONAL, S.CONNECTING}) | _ENDINGS,
    S.ERROR: frozenset({S.CLOSED_WITH_ERROR, S.CLOSED, S.OPEN_SERIAL, S.DETECT_SERIAL}),
    S.UNKNOWN: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A state change that the transition table does not allow."""


StateListener = Callable[[PrinterState, PrinterState], None]


class StateMachine:
    """Holds the current state; `set` checks the table and tells listeners (old, new)."""

    def __init__(self, initial: PrinterState = PrinterState.OFFLINE) -> None:
        self.state = initial
        self.listeners: list[StateListener] = []

    def can(self, new: PrinterState) -> bool:
        """Whether moving to `new` is legal from the current state (staying put always is)."""
        return new is self.state or new in TRANSITIONS[self.state]

    def set(self, new: PrinterState) -> None:
        """Move to `new`; raise `IllegalTransition` when the table forbids it."""
        old = self.state
        if new is old:
            return
        if new not in TRANSITIONS[old]:
            raise IllegalTransition(f"{old.value} -> {new.value}")
        self.state = new
        for listener in list(self.listeners):
            listener(old, new)

    def get_state_id(self) -> str:
        """OctoPrint's id of the current state, e.g. `OPERATIONAL`."""
        return self.state.value

    def get_state_string(self) -> str:
        """OctoPrint's text of the current state, e.g. `Operational`."""
        return self.state.text

    @property
    def is_connected(self) -> bool:
        """Whether the link is up (handshake running or done)."""
        return self.state in CONNECTED

    @property
    def is_printing(self) -> bool:
        """Whether a job is in one of the job states."""
        return self.state in JOB_STATES
