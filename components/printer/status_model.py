"""Klipper-style printer objects: current values, per-client subscriptions and batched diffs."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol

from moonlite.rpc import ApiError

#: at most this many status updates per second to each client (Klippy's cadence)
UPDATE_INTERVAL = 0.25
#: kept out of subscription diffs (large and static), as Moonraker does
UNSUBSCRIBABLE_FIELDS = {"configfile": {"config", "settings"}}

Fields = list[str] | None
Subscription = dict[str, Fields]


class StatusSink(Protocol):
    """Where diffs go: a websocket connection (`moonlite.websocket.Connection`)."""

    subscription: Subscription

    def queue_status(self, diff: dict[str, dict[str, Any]], eventtime: float,
                     encoded: str | None = None) -> None:
        """Queue (coalescing) a status diff; `encoded` is its notification, ready to send."""


def eventtime() -> float:
    """The printer-side clock Klippy reports: monotonic seconds."""
    return time.monotonic()


class StatusModel:
    """Every printer object's current fields; remembers what changed since the last flush."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self._dirty: dict[str, set[str]] = {}
        self._changed = asyncio.Event()
        self.sinks: list[StatusSink] = []
        self._keys: dict[int, str] = {}  # id(sink) -> its subscription, as a comparable key
        #: the values of the last flush
        self._flushed: dict[str, dict[str, Any]] = {}
        #: called with each flushed diff (the whole change set), e.g. by the plugins component
        self.listeners: list[Callable[[dict[str, dict[str, Any]]], None]] = []

    def names(self) -> list[str]:
        """Every object name."""
        return list(self.objects)

    def define(self, name: str, fields: dict[str, Any]) -> None:
        """Create (or replace) an object with its initial fields."""
        self.objects[name] = dict(fields)
        self._dirty.setdefault(name, set()).update(fields)
        self._changed.set()

    def remove(self, name: str) -> None:
        """Drop an object (e.g. a macro that was unloaded)."""
        self.objects.pop(name, None)
        self._dirty.pop(name, None)

    def get(self, name: str, field: str, default: Any = None) -> Any:
        """One field's current value."""
        return self.objects.get(name, {}).get(field, default)

    def update(self, name: str, fields: dict[str, Any]) -> None:
        """Set fields; only values that differ are marked as changed."""
        obj = self.objects.setdefault(name, {})
        dirty: set[str] | None = None
        for key, value in fields.items():
            if key not in obj or obj[key] != value:
                obj[key] = value
                if dirty is None:
                    dirty = self._dirty.setdefault(name, set())
                dirty.add(key)
        if dirty is not None:
            self._changed.set()

    def query(self, request: dict[str, Fields]) -> dict[str, dict[str, Any]]:
        """The requested objects and fields (None = all); unknown ones are left out."""
        status: dict[str, dict[str, Any]] = {}
        for name, fields in request.items():
            obj = self.objects.get(name)
            if obj is None:
                continue
            if fields is None:
                status[name] = copy.deepcopy(obj)
            else:
                status[name] = {f: copy.deepcopy(obj[f]) for f in fields if f in obj}
        return status

    def take_changes(self) -> dict[str, dict[str, Any]]:
        """The fields changed since the last call, with their values, and reset.

        A field may change and change back between two calls (a retraction undone, a
        temperature wobbling): it is left out, subscribers already have that value.
        Subscribing flushes first (`MoonrakerPrinterApi.objects_subscribe`), so a new
        subscriber's first answer holds the last flushed values too.
        """
        changes: dict[str, dict[str, Any]] = {}
        for name, fields in self._dirty.items():
            obj = self.objects.get(name)
            if not fields or obj is None:
                continue
            seen = self._flushed.setdefault(name, {})
            picked = {f: copy.deepcopy(obj[f]) for f in fields
                      if f in obj and (f not in seen or seen[f] != obj[f])}
            if picked:
                seen.update(picked)
                changes[name] = picked
        self._dirty = {}
        self._changed.clear()
        return changes

    def flush(self) -> None:
        """Send each sink the changes in its subscription."""
        changes = self.take_changes()
        if not changes:
            return
        now = eventtime()
        for listener in self.listeners:
            listener(changes)
        # clients with the same subscription (the usual case: every frontend subscribes to
        # everything) share one diff and one JSON encoding
        shared: dict[str, tuple[dict[str, dict[str, Any]], str]] = {}
        for sink in list(self.sinks):
            key = self._keys.get(id(sink))
            if key is None:
                key = self._keys[id(sink)] = _subscription_key(sink.subscription)
            entry = shared.get(key)
            if entry is None:
                diff = filter_changes(changes, sink.subscription)
                text = json.dumps({"jsonrpc": "2.0", "method": "notify_status_update",
                                   "params": [diff, now]}) if diff else ""
                entry = shared[key] = (diff, text)
            if entry[0]:
                sink.queue_status(entry[0], now, entry[1])

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Flush changes at most every `UPDATE_INTERVAL` seconds while the context is open."""
        async def loop() -> None:
            while True:
                await self._changed.wait()
                self.flush()
                await asyncio.sleep(UPDATE_INTERVAL)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()

    def subscribe(self, sink: StatusSink, request: dict[str, Fields]) -> None:
        """Replace `sink`'s subscription (Moonraker: a new subscribe replaces the old)."""
        sink.subscription = {
            name: _subscribable(name, fields) for name, fields in request.items()
        }
        self._keys[id(sink)] = _subscription_key(sink.subscription)
        if sink not in self.sinks:
            self.sinks.append(sink)

    def unsubscribe(self, sink: StatusSink) -> None:
        """Forget a sink (its connection closed)."""
        with contextlib.suppress(ValueError):
            self.sinks.remove(sink)
        self._keys.pop(id(sink), None)


def _subscription_key(subscription: Subscription) -> str:
    return json.dumps(subscription, sort_keys=True)


def _subscribable(name: str, fields: Fields) -> Fields:
    excluded = UNSUBSCRIBABLE_FIELDS.get(name)
    if not excluded:
        return fields
    if fields is None:
        return ["__all_but__", *sorted(excluded)]
    return [f for f in fields if f not in excluded]


def filter_changes(changes: dict[str, dict[str, Any]], subscription: Subscription
                   ) -> dict[str, dict[str, Any]]:
    """The part of `changes` that a subscription asks for."""
    diff: dict[str, dict[str, Any]] = {}
    for name, fields in subscription.items():
        changed = changes.get(name)
        if not changed:
            continue
        if fields is None:
            diff[name] = changed
        elif fields and fields[0] == "__all_but__":
            picked = {k: v for k, v in changed.items() if k not in fields[1:]}
            if picked:
                diff[name] = picked
        else:
            picked = {k: changed[k] for k in fields if k in changed}
            if picked:
                diff[name] = picked
    return diff


def parse_object_request(objects: dict[str, Any] | Iterable[str]) -> dict[str, Fields]:
    """Normalise `{name: [fields] | null | ""}` (or a list of names) to name -> fields."""
    if not isinstance(objects, dict):
        return {str(name): None for name in objects}
    result: dict[str, Fields] = {}
    for name, fields in objects.items():
        if fields is None or fields == "" or fields == []:
            result[str(name)] = None
        elif isinstance(fields, str):
            result[str(name)] = [f for f in fields.split(",") if f]
        elif isinstance(fields, list | tuple) and all(isinstance(f, str) for f in fields):
            result[str(name)] = list(fields)
        else:
            raise ApiError(f"Invalid fields for object '{name}': expected a list of field "
                           "names, a comma-separated string or null", 400)
    return result
