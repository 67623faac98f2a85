"""JSON-RPC and HTTP protocol behaviour: batches, every error class, arguments, status codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from core_api_client import Api, open_api

import moonlite.websocket

RPC_TIMEOUT = 10.0


async def echo(count: int, flag: bool = False, data: dict[str, Any] | None = None,
               name: str = "default") -> dict[str, Any]:
    """Answer the validated arguments (a method with typed parameters for the tests)."""
    return {"count": count, "flag": flag, "data": data, "name": name}


async def nothing() -> None:
    """Answer nothing (HTTP 204)."""


@pytest.fixture
def api_with_echo(api: Api) -> Api:
    """The `api` host plus two test methods: debug.echo (typed) and debug.nothing (None)."""
    registry = api.running.host.registry
    registry.register("debug.echo", echo, verbs=("GET", "POST"), path="/debug/echo")
    registry.register("debug.nothing", nothing, verbs=("GET",), path="/debug/nothing")
    return api


@pytest.fixture
async def raw_ws(api_with_echo: Api) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A bare websocket (credentials in the upgrade headers) to send arbitrary frames."""
    api = api_with_echo
    async with api.session.ws_connect(api.running.ws_url, headers=api.headers) as ws:
        yield ws


async def exchange(ws: aiohttp.ClientWebSocketResponse, frame: str) -> Any:
    """Send one frame and decode the next reply frame."""
    await ws.send_str(frame)
    msg = await ws.receive(RPC_TIMEOUT)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


def req(method: str, params: Any = None, req_id: Any = 1) -> dict[str, Any]:
    """A JSON-RPC request object."""
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": req_id}
    if params is not None:
        msg["params"] = params
    return msg


# -- error classes, both JSON-RPC carriers --------------------------------------------------

ERROR_CASES: list[tuple[str, str, Any, int, str]] = [
    # (case, frame, expected id, code, message fragment)
    ("malformed", '{"jsonrpc": "2.0", "method": ', None, -32700, "Parse error"),
    ("not_an_object", "42", None, -32600, "Invalid Request"),
    ("wrong_version", json.dumps({"jsonrpc": "1.0", "method": "server.info", "id": 3}), 3,
     -32600, "Invalid Request"),
    ("method_not_string", json.dumps({"jsonrpc": "2.0", "method": 5, "id": 4}), 4, -32600,
     "Invalid Request"),
    ("empty_batch", "[]", None, -32600, "Invalid Request"),
    ("unknown_method", json.dumps(req("server.no_such_thing", req_id=5)), 5, -32601,
     "Method not found"),
    ("params_not_object", json.dumps(req("server.info", [1, 2], 6)), 6, -32602,
     "Invalid params"),
    ("missing_param", json.dumps(req("server.database.get_item", {}, 7)), 7, -32602,
     "No data for argument: namespace"),
    ("wrong_type", json.dumps(req("debug.echo", {"count": "many"}, 8)), 8, -32602,
     "'count'"),
    ("wrong_nested_type", json.dumps(req("debug.echo", {"count": 1, "data": [1]}, 9)), 9,
     -32602, "'data'"),
]


@pytest.mark.parametrize(("case", "frame", "req_id", "code", "message"), ERROR_CASES,
                         ids=[c[0] for c in ERROR_CASES])
async def test_error_classes_over_websocket(
        raw_ws: aiohttp.ClientWebSocketResponse, case: str, frame: str, req_id: Any,
        code: int, message: str) -> None:
    reply = await exchange(raw_ws, frame)
    assert reply["jsonrpc"] == "2.0"
    assert reply["id"] == req_id
    assert reply["error"]["code"] == code
    assert message in reply["error"]["message"]
    # the connection survives every error
    assert (await exchange(raw_ws, json.dumps(req("server.info", req_id=99))))["id"] == 99


@pytest.mark.parametrize(("case", "frame", "req_id", "code", "message"), ERROR_CASES,
                         ids=[c[0] for c in ERROR_CASES])
async def test_error_classes_over_http_jsonrpc(
        api_with_echo: Api, case: str, frame: str, req_id: Any, code: int,
        message: str) -> None:
    status, reply = await api_with_echo.http(
        "POST", "/server/jsonrpc", data=frame, headers={"Content-Type": "application/json"})
    assert status == 200
    assert reply["id"] == req_id
    assert reply["error"]["code"] == code
    assert message in reply["error"]["message"]


async def test_http_param_errors_are_400_naming_the_parameter(api_with_echo: Api) -> None:
    status, body = await api_with_echo.http("GET", "/server/database/item")
    assert status == 400
    assert body["error"] == {"code": 400, "message": "No data for argument: namespace"}
    status, body = await api_with_echo.http("GET", "/debug/echo", params={"count": "many"})
    assert status == 400 and "'count'" in body["error"]["message"]
    status, body = await api_with_echo.http("GET", "/debug/echo", params={"count:int": "x"})
    assert status == 400 and "count" in body["error"]["message"]


# -- batches and notifications ---------------------------------------------------------------

BATCH = [req("server.info", req_id=1), {"jsonrpc": "2.0", "method": "server.info"},
         req("server.nope", req_id=3), req("debug.echo", {"count": 2}, "four")]


def check_batch_replies(replies: Any) -> None:
    """Three replies, in order; the notification got none."""
    assert isinstance(replies, list)
    assert [r["id"] for r in replies] == [1, 3, "four"]
    assert "api_version" in replies[0]["result"]
    assert replies[1]["error"]["code"] == -32601
    assert replies[2]["result"]["count"] == 2


async def test_batch_over_websocket(raw_ws: aiohttp.ClientWebSocketResponse) -> None:
    check_batch_replies(await exchange(raw_ws, json.dumps(BATCH)))


async def test_batch_over_http_jsonrpc(api_with_echo: Api) -> None:
    status, replies = await api_with_echo.jsonrpc(BATCH)
    assert status == 200
    check_batch_replies(replies)


async def test_notifications_get_no_reply(api_with_echo: Api,
                                          raw_ws: aiohttp.ClientWebSocketResponse) -> None:
    note = {"jsonrpc": "2.0", "method": "debug.echo", "params": {"count": 1}}
    bad_note = {"jsonrpc": "2.0", "method": "server.nope"}
    await raw_ws.send_str(json.dumps(note))
    await raw_ws.send_str(json.dumps([note, bad_note]))
    # the next frame is the reply to this request: nothing was sent for the notifications
    reply = await exchange(raw_ws, json.dumps(req("server.info", req_id=42)))
    assert reply["id"] == 42
    status, body = await api_with_echo.jsonrpc([note, bad_note])
    assert (status, body) == (204, None)
    status, body = await api_with_echo.jsonrpc(note)
    assert (status, body) == (204, None)


# -- oversize messages -----------------------------------------------------------------------

async def test_oversize_websocket_frame_closes_with_1009(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moonlite.websocket, "MAX_MESSAGE_SIZE", 64 * 1024)
    async with api.session.ws_connect(api.running.ws_url, headers=api.headers) as ws:
        big = json.dumps(req("server.info", {"pad": "x" * 100_000}))
        await ws.send_str(big)
        msg = await ws.receive(RPC_TIMEOUT)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.CLOSING)
        assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    # a frame under the limit is served on a new connection
    async with api.ws() as client:
        assert "api_version" in await client.call("server.info", {"pad": "x" * 1000})


@pytest.mark.parametrize("mode", ["trusted", "api_key"])
async def test_oversize_http_body_is_413(tmp_path: Path, mode: str) -> None:
    async with open_api(tmp_path / "data", mode, "[server]\nmax_upload_size: 1\n") as api:
        value = "x" * (2 * 1024 * 1024)
        status, body = await api.http("POST", "/server/database/item",
                                      json={"namespace": "big", "key": "k", "value": value})
        assert status == 413
        assert body["error"]["code"] == 413
        status, body = await api.jsonrpc(req("server.database.post_item", {
            "namespace": "big", "key": "k", "value": value}))
        assert status == 413
        status, _ = await api.http("POST", "/server/database/item",
                                   json={"namespace": "big", "key": "k", "value": "small"})
        assert status == 200


# -- HTTP arguments and status codes ---------------------------------------------------------

async def test_query_hints(api_with_echo: Api) -> None:
    status, body = await api_with_echo.http("GET", "/debug/echo", params={
        "count:int": "5", "flag:bool": "true", "data:json": '{"a": [1, 2]}', "name": "q",
        "_": "123", "token": "ignored"})
    assert status == 200
    assert body == {"result": {"count": 5, "flag": True, "data": {"a": [1, 2]}, "name": "q"}}
    status, body = await api_with_echo.http("GET", "/debug/echo", params={
        "count": "7", "flag:bool": "0"})
    assert body["result"]["count"] == 7 and body["result"]["flag"] is False
    status, body = await api_with_echo.http("GET", "/debug/echo", params={
        "count:int": "1", "flag:bool": "maybe"})
    assert status == 400 and "flag" in body["error"]["message"]


async def test_form_and_json_bodies(api_with_echo: Api) -> None:
    status, body = await api_with_echo.http("POST", "/debug/echo", data={
        "count": "3", "name": "form"})
    assert status == 200 and body["result"]["count"] == 3 and body["result"]["name"] == "form"
    status, body = await api_with_echo.http("POST", "/debug/echo?name=query&count=1",
                                            json={"name": "body", "data": {"b": True}})
    assert status == 200
    assert body["result"] == {"count": 1, "flag": False, "data": {"b": True}, "name": "body"}
    status, body = await api_with_echo.http("POST", "/debug/echo", data="[1]",
                                            headers={"Content-Type": "application/json"})
    assert status == 400
    status, body = await api_with_echo.http("POST", "/debug/echo", data="{oops",
                                            headers={"Content-Type": "application/json"})
    assert status == 400


async def test_none_result_is_204(api_with_echo: Api,
                                  raw_ws: aiohttp.ClientWebSocketResponse) -> None:
    async with api_with_echo.session.get(api_with_echo.url + "/debug/nothing",
                                         headers=api_with_echo.headers) as resp:
        assert resp.status == 204
        assert await resp.read() == b""
    reply = await exchange(raw_ws, json.dumps(req("debug.nothing", req_id=1)))
    assert reply == {"jsonrpc": "2.0", "result": None, "id": 1}


async def test_unknown_paths_and_wrong_verbs(api_with_echo: Api) -> None:
    for path in ("/server/nothing/here", "/no/such/path"):
        status, body = await api_with_echo.http("GET", path)
        assert status == 404
        assert body["error"]["code"] == 404
    async with api_with_echo.session.post(api_with_echo.url + "/server/info",
                                          headers=api_with_echo.headers) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET"
        assert (await resp.json())["error"]["code"] == 405
    status, body = await api_with_echo.http("POST", "/server/jsonrpc", data="{}",
                                            headers={"Content-Type": "text/plain"})
    assert status == 415


async def test_http_result_wrapping_and_reason_phrase(api_with_echo: Api) -> None:
    async with api_with_echo.session.get(api_with_echo.url + "/server/database/item",
                                         params={"namespace": "nope"},
                                         headers=api_with_echo.headers) as resp:
        assert resp.status == 404
        assert resp.reason == "Namespace 'nope' not found"
        assert (await resp.json()) == {"error": {"code": 404,
                                                 "message": "Namespace 'nope' not found"}}
    async with api_with_echo.session.get(api_with_echo.url + "/server/info",
                                         headers=api_with_echo.headers) as resp:
        assert resp.content_type == "application/json"
        assert set(await resp.json()) == {"result"}


async def test_internal_error_is_500_and_logged(api_with_echo: Api,
                                                raw_ws: aiohttp.ClientWebSocketResponse,
                                                caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        """Fail with an unexpected exception."""
        raise RuntimeError("boom")

    api_with_echo.running.host.registry.register("debug.broken", broken,
                                                 path="/debug/broken")
    reply = await exchange(raw_ws, json.dumps(req("debug.broken", req_id=1)))
    assert reply["error"]["code"] == 500
    assert "boom" not in reply["error"]["message"]
    assert any("debug.broken" in r.getMessage() for r in caplog.records)
    status, body = await api_with_echo.http("GET", "/debug/broken")
    assert status == 500
    assert body == {"error": {"code": 500, "message": "Internal Server Error"}}


async def test_empty_connections_and_connection_limit(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with open_api(tmp_path / "data", "trusted",
                        "[server]\nmax_websocket_connections: 2\n") as api:
        host = api.running.host
        closed = asyncio.Event()

        async def on_closed(event: str, payload: dict[str, Any]) -> None:
            closed.set()

        host.events.subscribe("ClientClosed", on_closed)
        # Fluidd's server probe: open, send nothing, close
        async with api.session.ws_connect(api.running.ws_url):
            pass
        await asyncio.wait_for(closed.wait(), RPC_TIMEOUT)
        assert len(host.websockets) == 0
        assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
        async with api.ws() as first, api.ws() as second:
            assert len(host.websockets) == 2
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                async with api.session.ws_connect(api.running.ws_url):
                    pass
            assert err.value.status == 503
            assert "api_version" in await first.call("server.info")
            assert "api_version" in await second.call("server.info")
