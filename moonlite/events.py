"""The event bus: OctoPrint's event names (seed 002), isolated subscribers, per-event order."""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Payload = dict[str, Any]
Handler = Callable[[str, Payload], Awaitable[None] | None]

#: a subscriber that falls this far behind starts losing its oldest events (and says so)
SUBSCRIBER_QUEUE_SIZE = 1000
#: events kept in EventBus.history
HISTORY_SIZE = 200


class Events(enum.StrEnum):
    """OctoPrint's event names (seed 002); values are the wire names."""

    # server
    STARTUP = "Startup"
    SHUTDOWN = "Shutdown"
    CLIENT_OPENED = "ClientOpened"
    CLIENT_CLOSED = "ClientClosed"
    CONNECTIVITY_CHANGED = "ConnectivityChanged"
    # printer communication
    CONNECTING = "Connecting"
    CONNECTED = "Connected"
    DISCONNECTING = "Disconnecting"
    DISCONNECTED = "Disconnected"
    ERROR = "Error"
    PRINTER_STATE_CHANGED = "PrinterStateChanged"
    # file handling
    UPLOAD = "Upload"
    FILE_ADDED = "FileAdded"
    FILE_REMOVED = "FileRemoved"
    FOLDER_ADDED = "FolderAdded"
    FOLDER_REMOVED = "FolderRemoved"
    UPDATED_FILES = "UpdatedFiles"
    METADATA_ANALYSIS_STARTED = "MetadataAnalysisStarted"
    METADATA_ANALYSIS_FINISHED = "MetadataAnalysisFinished"
    FILE_SELECTED = "FileSelected"
    FILE_DESELECTED = "FileDeselected"
    TRANSFER_STARTED = "TransferStarted"
    TRANSFER_DONE = "TransferDone"
    # printing
    PRINT_STARTED = "PrintStarted"
    PRINT_FAILED = "PrintFailed"
    PRINT_DONE = "PrintDone"
    PRINT_CANCELLED = "PrintCancelled"
    PRINT_PAUSED = "PrintPaused"
    PRINT_RESUMED = "PrintResumed"
    # G-code processing
    POWER_ON = "PowerOn"
    POWER_OFF = "PowerOff"
    HOME = "Home"
    Z_CHANGE = "ZChange"
    DWELL = "Dwell"
    WAITING = "Waiting"
    COOLING = "Cooling"
    ALERT = "Alert"
    CONVEYOR = "Conveyor"
    EJECT = "Eject"
    E_STOP = "EStop"
    POSITION_UPDATE = "PositionUpdate"
    TOOL_CHANGE = "ToolChange"
    # timelapses (no timelapse component yet: never fired)
    CAPTURE_START = "CaptureStart"
    CAPTURE_DONE = "CaptureDone"
    CAPTURE_FAILED = "CaptureFailed"
    MOVIE_RENDERING = "MovieRendering"
    MOVIE_DONE = "MovieDone"
    MOVIE_FAILED = "MovieFailed"
    # slicing
    SLICING_STARTED = "SlicingStarted"
    SLICING_DONE = "SlicingDone"
    SLICING_CANCELLED = "SlicingCancelled"
    SLICING_FAILED = "SlicingFailed"
    SLICING_PROFILE_ADDED = "SlicingProfileAdded"
    SLICING_PROFILE_MODIFIED = "SlicingProfileModified"
    SLICING_PROFILE_DELETED = "SlicingProfileDeleted"
    # settings
    SETTINGS_UPDATED = "SettingsUpdated"


ALL = "*"


class _Worker:
    """A queue and the task that drains it: what one subscriber (or group) handles in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.queue: asyncio.Queue[tuple[Handler, str, Payload]] = asyncio.Queue(
            SUBSCRIBER_QUEUE_SIZE)
        self.task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.users = 0

    def put(self, handler: Handler, event: str, payload: Payload) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.queue.task_done()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("event subscriber %s is behind: %d events dropped",
                            self.name, self.dropped)
        self.queue.put_nowait((handler, event, payload))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self.queue.empty():
            handler, event, payload = self.queue.get_nowait()
            try:
                result = handler(event, payload)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("event handler %s failed on %s", self.name, event)
            finally:
                self.queue.task_done()

    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()


class _Subscriber:
    """One handler bound to the worker that runs it."""

    def __init__(self, handler: Handler, worker: _Worker) -> None:
        self.handler = handler
        self.worker = worker

    def put(self, event: str, payload: Payload) -> None:
        self.worker.put(self.handler, event, payload)


class EventBus:
    """Publish/subscribe with OctoPrint's names; `fire` never blocks and never raises."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[_Subscriber]] = {}
        self._groups: dict[str, _Worker] = {}
        #: the last events fired, for diagnostics
        self.history: deque[tuple[float, str, Payload]] = deque(maxlen=HISTORY_SIZE)

    def subscribe(
        self, event: str, handler: Handler, name: str | None = None, group: str | None = None
    ) -> Callable[[], None]:
        """Call `handler(event, payload)` for each `event` (or every event with "*").

        Returns a function that unsubscribes. A handler gets events in the order they were
        fired; handlers subscribed with the same `group` (a component's name) share one queue,
        so they also see each other's events in fired order. Different handlers and groups run
        concurrently: a slow one delays only itself.
        """
        label = name or str(getattr(handler, "__qualname__", repr(handler)))
        if group is not None:
            worker = self._groups.get(group)
            if worker is None:
                worker = self._groups[group] = _Worker(group)
        else:
            worker = _Worker(label)
        worker.users += 1
        sub = _Subscriber(handler, worker)
        self._subscribers.setdefault(str(event), []).append(sub)

        def unsubscribe() -> None:
            subs = self._subscribers.get(str(event), [])
            if sub in subs:
                subs.remove(sub)
                worker.users -= 1
                if worker.users == 0:
                    worker.cancel()
                    if group is not None:
                        self._groups.pop(group, None)

        return unsubscribe

    def fire(self, event: str, payload: Payload | None = None) -> None:
        """Deliver `event` with `payload` to its subscribers (from the event loop thread)."""
        name = str(event)
        payload = dict(payload or {})
        self.history.append((time.time(), name, payload))
        for sub in (*self._subscribers.get(name, ()), *self._subscribers.get(ALL, ())):
            sub.put(name, payload)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until every subscriber has handled what was fired so far (tests, shutdown)."""
        workers = {id(s.worker): s.worker for subs in self._subscribers.values() for s in subs}
        waits = [w.queue.join() for w in workers.values()]
        if waits:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)

    async def close(self) -> None:
        """Stop every subscriber's worker."""
        for subs in self._subscribers.values():
            for sub in subs:
                sub.worker.cancel()
        self._subscribers.clear()
        self._groups.clear()


def on_event(*events: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a component method as the handler of `events` (subscribed when it loads)."""

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        names: list[str] = getattr(func, "__moonlite_events__", [])
        names.extend(str(e) for e in events)
        func.__moonlite_events__ = names  # type: ignore[attr-defined]
        return func

    return mark
