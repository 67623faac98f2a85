"""OctoPrint's PrinterCallback: registered objects get logs, messages, temperatures, state data."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from moonlite.components.printer.parser import Temperatures

log = logging.getLogger(__name__)

#: `on_printer_send_current_data` at most this often (seed 001: 2 calls per second)
CURRENT_DATA_INTERVAL = 0.5
#: kept for `get_temperature_history` / initial data (30 minutes at a 2 s autoreport)
TEMPERATURE_HISTORY = 900
LOG_HISTORY = 300
MESSAGE_HISTORY = 300


class PrinterCallback:
    """Base class of printer callbacks (`register_callback`); override what you need."""

    def on_printer_add_log(self, data: str) -> None:
        """A communication log line (`Recv: …`)."""

    def on_printer_add_message(self, data: str) -> None:
        """A message from the firmware (`echo:` lines, host action commands)."""

    def on_printer_add_temperature(self, data: dict[str, Any]) -> None:
        """A temperature set `{tool0: {actual, target}, bed: …, chamber: …, time}`."""

    def on_printer_received_registered_message(self, name: str, output: str) -> None:
        """A registered message (a host action command `//action:<name>`) arrived."""

    def on_printer_send_current_data(self, data: dict[str, Any]) -> None:
        """The printer's state data changed (at most twice a second)."""

    def on_printer_send_initial_data(self, data: dict[str, Any]) -> None:
        """Sent once on registration: temperature history, logs and messages."""


def temperature_data(temps: Temperatures) -> dict[str, dict[str, float | None]]:
    """Link sensor keys (T0, B, C, …) to OctoPrint's (tool0, bed, chamber, …)."""
    data: dict[str, dict[str, float | None]] = {}
    for sensor, (actual, target) in temps.items():
        if sensor == "B":
            key = "bed"
        elif sensor == "C":
            key = "chamber"
        elif sensor[0] == "T" and sensor[1:].isdigit():
            key = f"tool{sensor[1:]}"
        else:
            key = sensor
        data[key] = {"actual": actual, "target": target}
    return data


class CallbackHub:
    """Fans printer updates out to the registered callbacks; keeps the short histories."""

    def __init__(self, current_data: Callable[[], dict[str, Any]]) -> None:
        self._current_data = current_data
        self.callbacks: list[Any] = []
        self.temperatures: dict[str, dict[str, float | None]] = {}
        self.temperature_history: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=TEMPERATURE_HISTORY)
        self.logs: collections.deque[str] = collections.deque(maxlen=LOG_HISTORY)
        self.messages: collections.deque[str] = collections.deque(maxlen=MESSAGE_HISTORY)
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _call(self, method: str, *args: Any) -> None:
        for callback in list(self.callbacks):
            func = getattr(callback, method, None)
            if func is None:
                continue
            try:
                func(*args)
            except Exception:
                log.exception("printer callback %s.%s failed", type(callback).__name__, method)

    def register(self, callback: Any) -> None:
        """Add a callback and send it the initial data."""
        if callback not in self.callbacks:
            self.callbacks.append(callback)
        func = getattr(callback, "on_printer_send_initial_data", None)
        if func is not None:
            try:
                func(self.initial_data())
            except Exception:
                log.exception("printer callback initial data failed")
        self.changed()

    def unregister(self, callback: Any) -> None:
        """Remove a callback (unknown ones are ignored)."""
        with contextlib.suppress(ValueError):
            self.callbacks.remove(callback)

    def initial_data(self) -> dict[str, Any]:
        """`{temps: [...], logs: [...], messages: [...]}`."""
        return {"temps": list(self.temperature_history), "logs": list(self.logs),
                "messages": list(self.messages)}

    def changed(self) -> None:
        """Something in the current data changed: send it (throttled)."""
        self._dirty.set()

    def add_line(self, line: str) -> None:
        """A received line: log it, and report it as a message when the firmware says something."""
        entry = f"Recv: {line}"
        self.logs.append(entry)
        is_message = line.startswith("echo:") or line.startswith("//")
        if is_message:
            self.messages.append(line)
        if self.callbacks:
            self._call("on_printer_add_log", entry)
            if is_message:
                self._call("on_printer_add_message", line)
            self._dirty.set()

    def add_sent(self, line: str) -> None:
        """A line the host sent on request (API commands, scripts)."""
        entry = f"Send: {line}"
        self.logs.append(entry)
        if self.callbacks:
            self._call("on_printer_add_log", entry)

    def add_temperatures(self, temps: Temperatures) -> None:
        """A temperature report: merge, keep in the history, tell the callbacks."""
        self.temperatures.update(temperature_data(temps))
        entry: dict[str, Any] = {"time": int(time.time()), **{
            key: dict(value) for key, value in self.temperatures.items()}}
        self.temperature_history.append(entry)
        if self.callbacks:
            self._call("on_printer_add_temperature", entry)
            self._dirty.set()

    def registered_message(self, name: str, output: str) -> None:
        """A host action command: `on_printer_received_registered_message(name, output)`."""
        self._call("on_printer_received_registered_message", name, output)

    async def run(self) -> None:
        """Send `on_printer_send_current_data` whenever something changed, at most 2/s."""
        loop = asyncio.get_running_loop()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if self.callbacks:
                started = loop.time()
                self._call("on_printer_send_current_data", self._current_data())
                await asyncio.sleep(max(0.0, CURRENT_DATA_INTERVAL - (loop.time() - started)))
