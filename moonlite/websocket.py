"""The websocket transport: JSON-RPC per connection, bounded send queues, slow-consumer policy."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from moonlite.appkeys import request_user
from moonlite.middleware import public
from moonlite.rpc import Dispatcher, Request, Transport

if TYPE_CHECKING:
    from moonlite.server import Host

log = logging.getLogger(__name__)

#: frames waiting for one client; past this the client is not reading and is dropped
SEND_QUEUE_SIZE = 1000
#: bytes waiting for one client (queued or being written); past this it is dropped too, so a
#: client that stops reading costs at most this much memory whatever the frame sizes
SEND_QUEUE_BYTES = 4 * 1024 * 1024
#: a dropped client gets this long to take the close frame before its socket is aborted
CLOSE_GRACE = 2.0
#: at shutdown, how long queued frames may take to reach the clients
FLUSH_TIMEOUT = 1.0
#: a single frame that cannot be written for this long means the client stopped reading
SEND_TIMEOUT = 10.0
#: how often pending writes are checked against SEND_TIMEOUT
WATCHDOG_INTERVAL = 1.0
MAX_MESSAGE_SIZE = 4 * 1024 * 1024
#: requests of one client being answered at once; past this its socket is not read until one
#: finishes (TCP back-pressure), so a client cannot pile up unbounded tasks and printer work
MAX_PENDING_REQUESTS = 256

_ids = itertools.count(1)


class Connection:
    """One websocket client: its identity, auth, subscriptions and outgoing queue."""

    def __init__(self, host: Host, ws: web.WebSocketResponse, request: web.Request,
                 user: dict[str, Any] | None) -> None:
        self.host = host
        self.ws = ws
        self.request = request
        self.id = next(_ids) + 140000000000000  # Moonraker's ids are large ints
        self.ip = request.remote or ""
        self.user = user
        self.identified = False
        self.client_name = ""
        self.client_type = ""
        self.client_version = ""
        self.url = ""
        self.connected_at = time.time()
        self._queue: asyncio.Queue[str] = asyncio.Queue(SEND_QUEUE_SIZE)
        self._pending_status: dict[str, dict[str, Any]] | None = None
        self._pending_eventtime = 0.0
        self._closing = False
        self.close_reason = ""
        #: bytes of frames queued or being written
        self.queued_bytes = 0
        #: monotonic time when the frame being written was handed to the socket (0: none)
        self.write_started = 0.0
        self.writer_task: asyncio.Task[None] | None = None
        #: held while a frame is written, by the writer task or a reply written directly
        self._write_lock = asyncio.Lock()
        self._close_task: asyncio.Task[None] | None = None
        #: requests of this client being answered
        self.requests: set[asyncio.Task[None]] = set()
        #: printer-object subscription of this client: object name -> fields (None = all)
        self.subscription: dict[str, list[str] | None] = {}
        self.on_close: list[Callable[[Connection], None]] = []

    @property
    def authenticated(self) -> bool:
        """Whether calls that need auth may be made on this connection."""
        return self.user is not None

    def send_text(self, text: str) -> None:
        """Queue a frame; a client whose queue is full is disconnected (it stopped reading)."""
        if self._closing:
            return
        if self.queued_bytes + len(text) > SEND_QUEUE_BYTES:
            self.drop(f"send queue full ({self.queued_bytes} bytes waiting): client is not "
                      "reading")
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self.drop(f"send queue full ({SEND_QUEUE_SIZE} frames): client is not reading")
            return
        self.queued_bytes += len(text)

    async def reply(self, text: str) -> None:
        """Write a reply at once when nothing is queued or being written, else queue it.

        Skipping the queue saves the hop through the writer task (a third of the event-loop
        work of a request); order is kept because frames already queued go first.
        """
        if self._closing:
            return
        if not self._queue.empty() or self._write_lock.locked():
            self.send_text(text)
            return
        async with self._write_lock:
            await self._write(text)

    def send(self, message: dict[str, Any]) -> None:
        """Queue a JSON-RPC message."""
        self.send_text(json.dumps(message))

    def queue_status(self, diff: dict[str, dict[str, Any]], eventtime: float,
                     encoded: str | None = None) -> None:
        """Merge a status diff into the one not yet written: a slow client gets one update.

        `encoded` is the diff's notification already encoded (shared by every client with the
        same subscription): a client that keeps up gets it as it is.
        """
        if self._pending_status is None and encoded is not None and self._queue.empty():
            self.send_text(encoded)
            return
        if self._pending_status is None:
            self._pending_status = {k: dict(v) for k, v in diff.items()}
            self._pending_eventtime = eventtime
            self.send_text("")  # wake the writer; the empty marker means "status slot"
            return
        for obj, fields in diff.items():
            self._pending_status.setdefault(obj, {}).update(fields)
        self._pending_eventtime = eventtime

    def drop(self, reason: str) -> None:
        """Disconnect this client, logging why."""
        if self._closing:
            return
        self._closing = True
        self.close_reason = reason
        log.warning("websocket %d (%s %s): disconnecting: %s", self.id, self.ip,
                    self.client_name or "unidentified", reason)
        if self.writer_task is not None:
            self.writer_task.cancel()  # it may be stuck writing to the client
        self._queue = asyncio.Queue(1)  # free the frames nobody will read
        self.queued_bytes = 0
        self._close_task = asyncio.get_running_loop().create_task(self._close(reason))

    async def _close(self, reason: str) -> None:
        # a client that does not read will not take the close frame either: abort its socket
        # after a grace period so that the handler (and its memory) goes away
        try:
            await asyncio.wait_for(self.ws.close(code=1008, message=reason[:120].encode()),
                                   CLOSE_GRACE)
        except (TimeoutError, ConnectionError, RuntimeError, asyncio.CancelledError):
            # aiohttp shares one drain future between writers: cancelling our stuck writer
            # cancelled it, so close() raises CancelledError without us being cancelled
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
        finally:
            # abort even if it is "closing": a transport closes only once its buffer is
            # written, which never happens for a client that does not read
            transport = self.request.transport
            if transport is not None:
                transport.abort()

    async def writer(self) -> None:
        """Write queued frames in order; a frame that cannot be written in time drops the client."""
        while True:
            queue = self._queue
            text = await queue.get()
            try:
                async with self._write_lock:
                    if not await self._write(text):
                        return
            finally:
                self.queued_bytes = max(0, self.queued_bytes - len(text))
                queue.task_done()

    async def _write(self, text: str) -> bool:
        """Write one queued frame; False when the connection is finished."""
        if text == "":
            if self._pending_status is None:
                return True
            status, eventtime = self._pending_status, self._pending_eventtime
            self._pending_status = None
            text = json.dumps({"jsonrpc": "2.0", "method": "notify_status_update",
                               "params": [status, eventtime]})
        if self.ws.closed:
            return False
        # no timer per frame (wait_for costs a task each): the manager's watchdog drops a
        # client whose write has been pending for SEND_TIMEOUT
        self.write_started = time.monotonic()
        try:
            await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            return False
        finally:
            self.write_started = 0.0
        return True

    def check_stalled(self, now: float) -> None:
        """Drop this client if a frame has been waiting to be written for SEND_TIMEOUT."""
        if self.write_started and now - self.write_started > SEND_TIMEOUT:
            self.drop(f"a frame could not be written in {SEND_TIMEOUT:g} s: client is "
                      "not reading")

    async def flush(self, timeout: float) -> None:
        """Wait (at most `timeout` s) for the requests being answered and the queued frames."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                if self.requests:
                    await asyncio.wait(list(self.requests))
                await self._queue.join()


class WebsocketManager:
    """All open websocket connections; broadcasts notifications."""

    def __init__(self, host: Host, dispatcher: Dispatcher) -> None:
        self.host = host
        self.dispatcher = dispatcher
        self.connections: dict[int, Connection] = {}
        self.max_connections = 50
        self._watchdog: asyncio.Task[None] | None = None

    async def _watch_stalled_writes(self) -> None:
        while self.connections:
            await asyncio.sleep(WATCHDOG_INTERVAL)
            now = time.monotonic()
            for conn in list(self.connections.values()):
                conn.check_stalled(now)

    def __len__(self) -> int:
        return len(self.connections)

    def notify(self, method: str, params: list[Any] | None = None,
               only: Callable[[Connection], bool] | None = None) -> None:
        """Send a notification to every (matching) client; encoded once."""
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        text = json.dumps(msg)
        for conn in list(self.connections.values()):
            if only is None or only(conn):
                conn.send_text(text)

    async def close_all(self) -> None:
        """Close every client (shutdown), after the frames already queued for it are written.

        Replies queued just before a shutdown (to `server.restart`, a database restore) still
        reach their clients; a client that does not read is waited for at most FLUSH_TIMEOUT.
        """
        conns = list(self.connections.values())
        if self._watchdog is not None:
            self._watchdog.cancel()
        await asyncio.gather(*(conn.flush(FLUSH_TIMEOUT) for conn in conns))
        for conn in conns:
            await conn.ws.close(code=1001, message=b"Server shutdown")

    @public()  # an unauthenticated client may connect, then authenticate by identify
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The `/websocket` endpoint."""
        auth = self.host.auth
        # the middleware already authenticated the upgrade (and used up a oneshot token)
        user = request_user(request)
        if not auth.origin_allowed(request):
            raise web.HTTPForbidden(reason="Origin not allowed (cors_domains)")
        if len(self.connections) >= self.max_connections:
            raise web.HTTPServiceUnavailable(reason="Maximum number of websocket connections")
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_MESSAGE_SIZE,
                                   compress=False)
        await ws.prepare(request)
        conn = Connection(self.host, ws, request, user)
        self.connections[conn.id] = conn
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._watch_stalled_writes())
        writer = conn.writer_task = asyncio.create_task(conn.writer())
        self.host.on_client_opened(conn)
        tasks = conn.requests
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    task = asyncio.create_task(self._answer(conn, msg.data))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    if len(tasks) >= MAX_PENDING_REQUESTS:
                        await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)
                elif msg.type == WSMsgType.BINARY:
                    conn.send({"jsonrpc": "2.0", "id": None, "error": {
                        "code": -32600, "message": "Invalid Request: binary frames not supported"}})
                elif msg.type == WSMsgType.ERROR:
                    log.info("websocket %d error: %s", conn.id, ws.exception())
        finally:
            self.connections.pop(conn.id, None)
            writer.cancel()
            for task in tasks:
                task.cancel()
            for callback in conn.on_close:
                try:
                    callback(conn)
                except Exception:
                    log.exception("websocket close callback failed")
            self.host.on_client_closed(conn)
        return ws

    async def _answer(self, conn: Connection, text: str) -> None:
        request = Request(transport=Transport.WEBSOCKET, ip=conn.ip, user=conn.user,
                          connection=conn)
        reply = await self.dispatcher.handle_text(text, request)
        if reply is not None:
            await conn.reply(reply)
