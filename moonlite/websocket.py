"""The websocket transport: JSON-RPC per connection, bounded send queues, slow-consumer policy."""

from __future__ import annotations

import asyncio
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
#: a single frame that cannot be written for this long means the client stopped reading
SEND_TIMEOUT = 10.0
MAX_MESSAGE_SIZE = 4 * 1024 * 1024

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
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self.drop(f"send queue full ({SEND_QUEUE_SIZE} frames): client is not reading")

    def send(self, message: dict[str, Any]) -> None:
        """Queue a JSON-RPC message."""
        self.send_text(json.dumps(message))

    def notify(self, method: str, params: list[Any] | None = None) -> None:
        """Queue a notification (`params` is always an array, or absent)."""
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def queue_status(self, diff: dict[str, dict[str, Any]], eventtime: float) -> None:
        """Merge a status diff into the one not yet written: a slow client gets one update."""
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
        asyncio.get_running_loop().create_task(self.ws.close(code=1008, message=reason[:120]
                                                             .encode()))

    async def writer(self) -> None:
        """Write queued frames in order; a frame that cannot be written in time drops the client."""
        while True:
            text = await self._queue.get()
            if text == "":
                if self._pending_status is None:
                    continue
                status, eventtime = self._pending_status, self._pending_eventtime
                self._pending_status = None
                text = json.dumps({"jsonrpc": "2.0", "method": "notify_status_update",
                                   "params": [status, eventtime]})
            if self.ws.closed:
                return
            try:
                await asyncio.wait_for(self.ws.send_str(text), SEND_TIMEOUT)
            except TimeoutError:
                self.drop(f"a frame could not be written in {SEND_TIMEOUT:.0f} s")
                return
            except (ConnectionError, RuntimeError):
                return


class WebsocketManager:
    """All open websocket connections; broadcasts notifications."""

    def __init__(self, host: Host, dispatcher: Dispatcher) -> None:
        self.host = host
        self.dispatcher = dispatcher
        self.connections: dict[int, Connection] = {}
        self.max_connections = 50

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
        """Close every client (shutdown)."""
        for conn in list(self.connections.values()):
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
        writer = asyncio.create_task(conn.writer())
        self.host.on_client_opened(conn)
        tasks: set[asyncio.Task[None]] = set()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    task = asyncio.create_task(self._answer(conn, msg.data))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
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
            conn.send_text(reply)
