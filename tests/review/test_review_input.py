"""Review: malformed input gets a clear 4xx (never a 500 or a silent drop) on every transport."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from moonlite.testing import RunningHost, running_host

CONFIG = """
[authorization]
trusted_clients: 10.0.0.0/8
[history]
[printer]
"""
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[RunningHost]:
    """A host with history and the (virtual) printer; loopback needs the API key."""
    async with running_host(tmp_path / "data", CONFIG) as host:
        yield host


def _key(running: RunningHost) -> dict[str, str]:
    return {"X-Api-Key": running.host.auth.api_key}


async def _post_raw(session: aiohttp.ClientSession, running: RunningHost, path: str,
                    body: bytes) -> tuple[int, Any]:
    async with session.post(running.url + path, data=body,
                            headers={**_key(running), **JSON_HEADERS}) as resp:
        return resp.status, await resp.json()


BAD_BODIES = {
    "nested past the decoder's recursion": b'{"namespace": "x", "key": "a", "value": '
                                           + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "NaN (we would echo invalid JSON)": b'{"namespace": "x", "key": "a", "value": NaN}',
    "Infinity": b'{"namespace": "x", "key": "a", "value": -Infinity}',
    "lone surrogate (cannot be stored as UTF-8)":
        b'{"namespace": "x", "key": "\\ud800", "value": 1}',
}


async def test_bad_json_bodies_are_400_not_500(running: RunningHost) -> None:
    async with aiohttp.ClientSession() as session:
        for what, body in BAD_BODIES.items():
            status, reply = await _post_raw(session, running, "/server/database/item", body)
            assert status == 400, what
            assert reply["error"]["message"].startswith("Invalid JSON body"), what
        # a surrogate *pair* is an ordinary character and is stored
        status, reply = await _post_raw(
            session, running, "/server/database/item",
            b'{"namespace": "x", "key": "smile", "value": "\\ud83d\\ude00"}')
        assert status == 200 and reply["result"]["value"] == "\U0001f600"
        # the same refusal for a `:json` query hint
        async with session.get(running.url + "/server/database/item?namespace=x&key:json="
                               + "%5B" * 5000 + "%5D" * 5000, headers=_key(running)) as resp:
            assert resp.status == 400


async def _reply(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next frame that is not a notification."""
    while True:
        data: dict[str, Any] = json.loads((await ws.receive(timeout=10)).data)
        if "method" not in data:
            return data


async def test_bad_json_gets_a_parse_error_over_websocket_and_jsonrpc(
        running: RunningHost) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(running.ws_url, headers=_key(running))
        try:
            for what, body in BAD_BODIES.items():
                message = b'{"jsonrpc": "2.0", "method": "server.database.post_item", ' \
                          b'"id": 7, "params": ' + body + b"}"
                await ws.send_str(message.decode())
                reply = await _reply(ws)
                assert reply["error"]["code"] == -32700, what
            # the connection still answers
            await ws.send_str('{"jsonrpc": "2.0", "method": "server.info", "id": 8}')
            reply = await _reply(ws)
            assert reply["id"] == 8 and "klippy_state" in reply["result"]
        finally:
            await ws.close()
        status, reply = await _post_raw(session, running, "/server/jsonrpc",
                                        BAD_BODIES["nested past the decoder's recursion"])
        assert status == 200 and reply["error"]["code"] == -32700


async def test_history_ids_and_pages_past_sqlite_integers(running: RunningHost) -> None:
    huge = "9" * 40
    async with aiohttp.ClientSession(headers=_key(running)) as session:
        async with session.get(f"{running.url}/server/history/job?uid={huge}") as resp:
            assert resp.status == 404
        async with session.delete(f"{running.url}/server/history/job?uid={'F' * 17}") as resp:
            assert resp.status == 404
        for query in (f"limit={huge}", f"start={huge}&limit=5", f"limit:int={huge}"):
            async with session.get(f"{running.url}/server/history/list?{query}") as resp:
                assert resp.status == 200, query
                assert (await resp.json())["result"]["jobs"] == []


async def test_printer_object_fields_of_a_wrong_type_are_400(running: RunningHost) -> None:
    async with aiohttp.ClientSession(headers=_key(running)) as session:
        async with session.get(running.url + "/printer/objects/query?toolhead:int=5") as resp:
            assert resp.status == 400
            assert "toolhead" in (await resp.json())["error"]["message"]
        async with session.post(running.url + "/printer/objects/query",
                                json={"objects": {"toolhead": {"a": 1}}}) as resp:
            assert resp.status == 400
        async with session.post(running.url + "/printer/objects/query",
                                json={"objects": {"toolhead": ["position"]}}) as resp:
            assert resp.status == 200
            assert "position" in (await resp.json())["result"]["status"]["toolhead"]


async def test_restore_of_a_backup_whose_name_has_uri_characters(running: RunningHost) -> None:
    """`#` and `?` are legal in a backup name; the check must read that very file."""
    name = "weekly #1?.db"
    async with aiohttp.ClientSession(headers=_key(running)) as session:
        async with session.post(running.url + "/server/database/item",
                                json={"namespace": "review", "key": "kept", "value": 1}) as r:
            assert r.status == 200
        async with session.post(running.url + "/server/database/backup",
                                json={"filename": name}) as resp:
            assert resp.status == 200
        assert (running.host.paths.database / "backup" / name).is_file()
        async with session.post(running.url + "/server/database/restore",
                                json={"filename": name}) as resp:
            body = await resp.json()
            assert resp.status == 200, body
            assert "review" in body["result"]["restored_namespaces"]
