"""Callback lists through which the printer link reports what it receives and what it does."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from moonlite.components.printer.parser import Temperatures
from moonlite.components.printer.state import PrinterState

log = logging.getLogger(__name__)


class Listeners:
    """Plain lists of callables; append to subscribe, remove to unsubscribe.

    Callbacks run on the event loop inside the reader and must be quick (schedule a task for
    anything slow). A callback that raises is logged and does not disturb the link.
    """

    def __init__(self) -> None:
        #: every received line (stripped), before the link interprets it
        self.line: list[Callable[[str], None]] = []
        #: {sensor: (actual, target)} from M105 answers and autoreports; keys T0, T1, B, C, …
        self.temperature: list[Callable[[Temperatures], None]] = []
        #: {"x", "y", "z", "e", …} from M114 answers and M154 autoreports
        self.position: list[Callable[[dict[str, float]], None]] = []
        #: (event, data): progress {pos,size}, not_printing, done, file_opened {name,size},
        #: file_selected, card_ok
        self.sd: list[Callable[[str, dict[str, Any]], None]] = []
        #: (old, new) on every state change
        self.state: list[Callable[[PrinterState, PrinterState], None]] = []
        #: (message, fatal) for firmware errors and link failures
        self.error: list[Callable[[str, bool], None]] = []
        #: (name, args) for `//action:<name> <args>` lines
        self.action: list[Callable[[str, str], None]] = []
        #: the firmware reset (`start`) while connected; the link reconnects by itself
        self.reset: list[Callable[[], None]] = []
        #: the handshake finished (also after a reset); the argument is the firmware info
        self.connected: list[Callable[[Any], None]] = []

    @staticmethod
    def _call(callbacks: list[Any], *args: Any) -> None:
        for callback in list(callbacks):
            try:
                callback(*args)
            except Exception:
                log.exception("printer listener %r failed", callback)

    def fire_temperature(self, temperatures: Temperatures) -> None:
        """Report temperatures."""
        self._call(self.temperature, temperatures)

    def fire_position(self, position: dict[str, float]) -> None:
        """Report a position."""
        self._call(self.position, position)

    def fire_sd(self, event: str, data: dict[str, Any]) -> None:
        """Report an SD card event."""
        self._call(self.sd, event, data)

    def fire_state(self, old: PrinterState, new: PrinterState) -> None:
        """Report a state change."""
        self._call(self.state, old, new)

    def fire_error(self, message: str, fatal: bool) -> None:
        """Report an error."""
        self._call(self.error, message, fatal)

    def fire_action(self, name: str, args: str) -> None:
        """Report a host action command."""
        self._call(self.action, name, args)

    def fire_reset(self) -> None:
        """Report a firmware reset."""
        self._call(self.reset)

    def fire_connected(self, firmware: Any) -> None:
        """Report a finished handshake."""
        self._call(self.connected, firmware)
