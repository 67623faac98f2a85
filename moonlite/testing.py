"""Helpers to run a real moonlite host on 127.0.0.1 and talk to it (tests, benchmarks, plugins)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from moonlite.config import Config
from moonlite.server import Host, serve


@dataclass
class RunningHost:
    """A host serving on a real socket."""

    host: Host
    port: int

    @property
    def url(self) -> str:
        """Base HTTP URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """Websocket URL."""
        return f"ws://127.0.0.1:{self.port}/websocket"


@contextlib.asynccontextmanager
async def running_host(data_dir: Path, config_text: str | None = None,
                       embedded_defaults: bool = False) -> AsyncIterator[RunningHost]:
    """Start a host on 127.0.0.1 (random port) and stop it afterwards.

    `config_text` is a moonlite.conf; with none, the host runs with only its core components
    unless `embedded_defaults` asks for the full default set.
    """
    config: Config | None
    if config_text is None and embedded_defaults:
        config = None
    else:
        path = data_dir / "moonlite.conf"
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(config_text or "")
        config = Config.load(path)
    host = Host(config, data_dir, port=0, host="127.0.0.1")
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(host, ready=lambda port: ready.set_result(port)))
    waiters: set[asyncio.Future[Any]] = {task, ready}
    done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED, timeout=30)
    if task in done:
        task.result()  # raises the start-up error
    if not done:
        task.cancel()
        raise TimeoutError("moonlite did not start within 30 s")
    try:
        yield RunningHost(host, ready.result())
    finally:
        host.stopped.set()
        await asyncio.wait_for(task, 30)


class RpcClient:
    """A JSON-RPC websocket client that separates replies from notifications."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.notifications: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str, session: aiohttp.ClientSession | None = None,
                      **kwargs: Any) -> AsyncIterator[RpcClient]:
        """Open a websocket to `url` and yield a client."""
        own = session is None
        session = session or aiohttp.ClientSession()
        try:
            async with session.ws_connect(url, **kwargs) as ws:
                client = cls(ws)
                try:
                    yield client
                finally:
                    client._reader.cancel()
        finally:
            if own:
                await session.close()

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            items = data if isinstance(data, list) else [data]
            for item in items:
                fut = self._pending.pop(item.get("id"), None) if "id" in item else None
                if fut is not None and not fut.done():
                    fut.set_result(item)
                elif "method" in item:
                    self.notifications.put_nowait(item)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("websocket closed"))

    async def request(self, method: str, params: dict[str, Any] | None = None,
                      timeout: float = 10.0) -> dict[str, Any]:
        """Send a request; return the whole reply (with `result` or `error`)."""
        req_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": req_id}
        if params is not None:
            msg["params"] = params
        await self.ws.send_str(json.dumps(msg))
        return await asyncio.wait_for(fut, timeout)

    async def call(self, method: str, params: dict[str, Any] | None = None,
                   timeout: float = 10.0) -> Any:
        """Send a request; return its result or raise `RpcCallError`."""
        reply = await self.request(method, params, timeout)
        if "error" in reply:
            raise RpcCallError(reply["error"]["code"], reply["error"]["message"])
        return reply["result"]

    async def next_notification(self, method: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for the next notification called `method` (others are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                note = await self.notifications.get()
                if note["method"] == method:
                    return note


class RpcCallError(Exception):
    """A JSON-RPC error reply."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


async def wait_until(condition: Callable[[], bool], changed: asyncio.Event,
                     timeout: float) -> None:
    """Wait until `condition()` holds, re-checked each time `changed` is set (TimeoutError
    after `timeout` seconds). Whoever can change the outcome sets `changed`."""
    async with asyncio.timeout(timeout):
        while not condition():
            changed.clear()
            await changed.wait()


async def wait_printer_ready(host: Host, timeout: float = 20.0) -> None:
    """Wait until the printer component is connected and idle (checked on every event)."""
    changed = asyncio.Event()

    def on_event(_event: str, _payload: dict[str, Any]) -> None:
        changed.set()

    def ready() -> bool:
        state = getattr(host.get_component("printer"), "get_state_id", None)
        return callable(state) and state() == "OPERATIONAL"

    unsubscribe = host.events.subscribe("*", on_event)
    try:
        await wait_until(ready, changed, timeout)
    finally:
        unsubscribe()


def gcode_command_lines(path: Path, limit: int | None = None) -> list[str]:
    """The command lines of a G-code file as a host sends them: comments and blank lines
    dropped, only the first `limit` when given."""
    out: list[str] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for raw in handle:
            line = raw.partition(";")[0].strip()
            if line:
                out.append(line)
                if limit is not None and len(out) >= limit:
                    break
    return out
