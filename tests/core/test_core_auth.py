"""Authorization: untrusted clients, API key, users and JWTs, oneshot tokens, CORS."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from core_api_client import Api, open_api

from moonlite.testing import RpcCallError, RpcClient

IDENTITY = {"client_name": "pytest", "version": "1", "type": "web", "url": "http://x"}


@pytest.fixture
async def locked(tmp_path: Path) -> AsyncIterator[Api]:
    """A host where 127.0.0.1 is not trusted; `headers` is empty (no credential)."""
    async with open_api(tmp_path / "data", "api_key") as api:
        api.headers.clear()
        yield api


def key_headers(api: Api) -> dict[str, str]:
    """The X-Api-Key header of the host."""
    return {"X-Api-Key": api.running.host.auth.api_key}


async def test_untrusted_client_needs_a_credential(locked: Api) -> None:
    status, body = await locked.http("GET", "/server/info")
    assert status == 401 and body["error"]["code"] == 401
    status, body = await locked.jsonrpc({"jsonrpc": "2.0", "method": "server.info", "id": 1})
    assert status == 200 and body["error"] == {"code": -32602, "message": "Unauthorized"}
    status, body = await locked.http("GET", "/server/info", headers={"X-Api-Key": "wrong"})
    assert status == 401
    status, body = await locked.http("GET", "/server/info", params={"token": "wrong"})
    assert status == 401
    status, body = await locked.http("GET", "/server/info", headers=key_headers(locked))
    assert status == 200 and "api_version" in body["result"]
    # public methods need nothing
    status, body = await locked.http("GET", "/access/info")
    assert status == 200
    assert body["result"]["trusted"] is False
    assert body["result"]["login_required"] is False


async def test_untrusted_websocket_authenticates_by_identify(locked: Api) -> None:
    async with RpcClient.connect(locked.running.ws_url, locked.session) as client:
        reply = await client.request("server.info")
        assert reply["error"] == {"code": -32602, "message": "Unauthorized"}
        with pytest.raises(RpcCallError) as err:
            await client.call("server.connection.identify", {**IDENTITY, "api_key": "bad"})
        assert err.value.code == -32602
        with pytest.raises(RpcCallError) as err:
            await client.call("server.connection.identify", IDENTITY)
        assert err.value.code == -32602
        await client.call("server.connection.identify",
                          {**IDENTITY, "api_key": locked.running.host.auth.api_key})
        assert "api_version" in await client.call("server.info")
    # the API key header on the upgrade authenticates the connection at once
    async with RpcClient.connect(locked.running.ws_url, locked.session,
                                 headers=key_headers(locked)) as client:
        assert "api_version" in await client.call("server.info")


async def test_trusted_client_needs_nothing(tmp_path: Path) -> None:
    async with open_api(tmp_path / "data", "trusted") as api:
        status, body = await api.http("GET", "/server/info")
        assert status == 200
        status, body = await api.http("GET", "/access/info")
        assert body["result"]["trusted"] is True
        async with RpcClient.connect(api.running.ws_url, api.session) as client:
            assert "api_version" in await client.call("server.info")
            assert await client.call("access.get_user") == {
                "username": "_TRUSTED_USER_", "source": "moonlite", "created_on": 0.0}


async def post(api: Api, path: str, payload: dict[str, Any],
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """POST a JSON body."""
    return await api.http("POST", path, data=json.dumps(payload),
                          headers={"Content-Type": "application/json", **(headers or {})})


def bearer(token: str) -> dict[str, str]:
    """An Authorization header carrying a JWT."""
    return {"Authorization": f"Bearer {token}"}


async def test_login_refresh_logout(locked: Api) -> None:
    status, created = await post(locked, "/access/user",
                                 {"username": "alice", "password": "s3cret!"},
                                 key_headers(locked))
    assert status == 200, created
    assert created["result"]["action"] == "user_created"
    status, body = await post(locked, "/access/login",
                              {"username": "alice", "password": "wrong"})
    assert status == 401
    status, body = await post(locked, "/access/login",
                              {"username": "alice", "password": "s3cret!"})
    assert status == 200
    login = body["result"]
    assert login["username"] == "alice" and login["action"] == "user_logged_in"
    token, refresh = login["token"], login["refresh_token"]

    status, body = await locked.http("GET", "/access/user", headers=bearer(token))
    assert status == 200 and body["result"]["username"] == "alice"
    status, _ = await locked.http("GET", "/server/info", params={"access_token": token})
    assert status == 200
    # a refresh token is not an access token
    status, _ = await locked.http("GET", "/server/info", headers=bearer(refresh))
    assert status == 401

    status, body = await post(locked, "/access/refresh_jwt", {"refresh_token": refresh})
    assert status == 200 and body["result"]["action"] == "user_jwt_refresh"
    fresh = body["result"]["token"]
    status, _ = await locked.http("GET", "/server/info", headers=bearer(fresh))
    assert status == 200

    # identify with the access token authenticates a websocket
    async with RpcClient.connect(locked.running.ws_url, locked.session) as client:
        await client.call("server.connection.identify", {**IDENTITY, "access_token": fresh})
        assert (await client.call("access.get_user"))["username"] == "alice"

    status, body = await post(locked, "/access/logout", {}, bearer(fresh))
    assert status == 200 and body["result"] == {"username": "alice",
                                                "action": "user_logged_out"}
    for old in (token, fresh):
        status, body = await locked.http("GET", "/server/info", headers=bearer(old))
        assert status == 401
    status, _ = await post(locked, "/access/refresh_jwt", {"refresh_token": refresh})
    assert status == 401
    # logging in again works
    status, body = await post(locked, "/access/login",
                              {"username": "alice", "password": "s3cret!"})
    assert status == 200
    status, _ = await locked.http("GET", "/server/info", headers=bearer(body["result"]["token"]))
    assert status == 200


async def test_users_persist_and_api_key_rotates(tmp_path: Path) -> None:
    async with open_api(tmp_path / "data", "api_key") as api:
        status, _ = await post(api, "/access/user", {"username": "bob", "password": "pw1234"})
        assert status == 200
        old_key = api.running.host.auth.api_key
        status, body = await post(api, "/access/api_key", {})
        new_key = body["result"]
        assert status == 200 and new_key != old_key
        status, _ = await api.http("GET", "/server/info")  # still the old key
        assert status == 401
        status, _ = await api.http("GET", "/server/info", headers={"X-Api-Key": new_key})
        assert status == 200
    async with open_api(tmp_path / "data", "api_key") as api:
        assert api.running.host.auth.api_key == new_key
        status, body = await post(api, "/access/login",
                                  {"username": "bob", "password": "pw1234"})
        assert status == 200
        status, body = await api.http("GET", "/access/users/list")
        assert [u["username"] for u in body["result"]["users"]] == ["bob"]


async def test_oneshot_token_for_websocket_upgrade(locked: Api) -> None:
    status, body = await locked.http("GET", "/access/oneshot_token",
                                     headers=key_headers(locked))
    assert status == 200
    token = body["result"]
    url = f"{locked.running.ws_url}?token={token}"
    async with RpcClient.connect(url, locked.session) as client:
        assert "api_version" in await client.call("server.info")
    # a oneshot token works once
    async with RpcClient.connect(url, locked.session) as client:
        reply = await client.request("server.info")
        assert reply["error"]["code"] == -32602


async def test_cors(tmp_path: Path) -> None:
    config = "[authorization]\ncors_domains:\n  http://allowed.example\n  *.lan\n"
    async with open_api(tmp_path / "data", "trusted", config) as api:
        for origin in ("http://allowed.example", "http://printer.lan"):
            async with api.session.options(api.url + "/server/info", headers={
                    "Origin": origin, "Access-Control-Request-Method": "GET"}) as resp:
                assert resp.status == 204
                assert resp.headers["Access-Control-Allow-Origin"] == origin
            async with api.session.get(api.url + "/server/info",
                                       headers={"Origin": origin}) as resp:
                assert resp.status == 200
                assert resp.headers["Access-Control-Allow-Origin"] == origin
            async with api.session.ws_connect(api.running.ws_url,
                                              headers={"Origin": origin}) as ws:
                await ws.send_json({"jsonrpc": "2.0", "method": "server.info", "id": 1})
                assert "result" in await ws.receive_json(timeout=10)
        async with api.session.options(api.url + "/server/info", headers={
                "Origin": "http://evil.example"}) as resp:
            assert resp.status == 403
        async with api.session.get(api.url + "/server/info",
                                   headers={"Origin": "http://evil.example"}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
        # a foreign page may not open the websocket, even from a trusted address
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            async with api.session.ws_connect(api.running.ws_url,
                                              headers={"Origin": "http://evil.example"}):
                pass
        assert err.value.status == 403
        # the page served by this host itself is not foreign
        own = f"http://127.0.0.1:{api.running.port}"
        async with api.session.ws_connect(api.running.ws_url, headers={"Origin": own}) as ws:
            await ws.send_json({"jsonrpc": "2.0", "method": "server.info", "id": 1})
            assert "result" in await ws.receive_json(timeout=10)
