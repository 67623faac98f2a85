"""Moonraker's printer.objects.* methods over the status model."""

from __future__ import annotations

from typing import Any

from moonlite.rpc import ApiError, Request, Transport, api

from .status_model import StatusModel, eventtime, parse_object_request

BOTH_VERBS = ("GET", "POST")


class ObjectsApi:
    """`printer.objects.list/query/subscribe` (a mixin of the printer component)."""

    host: Any
    status: StatusModel

    @api("printer.objects.list", verbs=BOTH_VERBS)
    async def objects_list(self) -> dict[str, list[str]]:
        """Names of every printer object."""
        return {"objects": self.status.names()}

    @api("printer.objects.query", verbs=BOTH_VERBS)
    async def objects_query(self, objects: dict[str, Any]) -> dict[str, Any]:
        """Current values of the requested objects (`{name: [fields] | null}`)."""
        return {"eventtime": eventtime(),
                "status": self.status.query(parse_object_request(objects))}

    @api("printer.objects.subscribe", verbs=BOTH_VERBS)
    async def objects_subscribe(self, request: Request, objects: dict[str, Any],
                                connection_id: int | None = None) -> dict[str, Any]:
        """Subscribe this connection to objects; changes arrive as `notify_status_update`."""
        conn = request.connection
        if request.transport is Transport.HTTP:
            if request.http_request is not None and \
                    request.http_request.path == "/server/jsonrpc":
                raise ApiError("printer.objects.subscribe is not available over "
                               "/server/jsonrpc", 400)
            cid = connection_id or _int(request.http_request.query.get("connection_id")
                                        if request.http_request is not None else None)
            conn = self.host.websockets.connections.get(cid) if cid else None
            if conn is None:
                raise ApiError("No connection_id of an open websocket given", 400)
        if conn is None:
            raise ApiError("Subscriptions need a websocket connection", 400)
        wanted = parse_object_request(objects)
        if conn not in self.status.sinks:
            conn.on_close.append(self.status.unsubscribe)
        self.status.subscribe(conn, wanted)
        return {"eventtime": eventtime(), "status": self.status.query(wanted)}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
