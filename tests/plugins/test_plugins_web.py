"""SimpleApiPlugin, BlueprintPlugin (protection, CSRF, error bodies) and AssetPlugin over
real HTTP."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from yarl import URL

from tests.plugins.conftest import api_key_headers, get_plugin, plugin_host

SIMPLE = "/api/plugin/example_simple_api"


async def test_simple_api_validates_commands_and_answers_204_for_none(tmp_path: Path) -> None:
    async with plugin_host(tmp_path / "data") as running, aiohttp.ClientSession() as session:
        key = api_key_headers(running)
        async with session.get(running.url + SIMPLE) as resp:
            assert resp.status == 401
        async with session.post(running.url + SIMPLE, headers=key,
                                json={"command": "greet", "name": "Ada"}) as resp:
            assert resp.status == 200
            assert await resp.json() == {"greeting": "Hello Ada"}
        async with session.post(running.url + SIMPLE, headers=key,
                                json={"command": "greet_formally", "name": "Ada"}) as resp:
            assert resp.status == 400
            message = (await resp.json())["error"]["message"]
        assert "title" in message and "name" not in message.split(":")[-1]
        async with session.post(running.url + SIMPLE, headers=key,
                                json={"command": "launch"}) as resp:
            assert resp.status == 400
            assert "launch" in (await resp.json())["error"]["message"]
        async with session.post(running.url + SIMPLE, headers=key,
                                data="command=greet&name=x",
                                ) as resp:
            assert resp.status == 400
            assert "JSON" in (await resp.json())["error"]["message"]
        async with session.post(running.url + SIMPLE, headers=key,
                                json={"command": "count"}) as resp:
            assert resp.status == 204
            assert await resp.read() == b""
        async with session.get(running.url + SIMPLE, headers=key) as resp:
            assert resp.status == 200
            assert await resp.json() == {"counter": 1}
        async with session.get(running.url + SIMPLE, headers=key,
                               params={"empty": "1"}) as resp:
            assert resp.status == 204
        async with session.post(running.url + SIMPLE, headers=key,
                                json={"command": "find", "what": "cake"}) as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["message"] == "No cake here"
        info = running.host.components["plugins"].manager.get_plugin_info("example_simple_api")
        assert info.hook_errors == []  # an HTTP answer the plugin chose is no failure
        async with session.get(running.url + "/api/plugin/example_events",
                               headers=key) as resp:
            assert resp.status == 404  # not a SimpleApiPlugin


async def test_admin_only_simple_api(tmp_path: Path) -> None:
    async with plugin_host(tmp_path / "data") as running, aiohttp.ClientSession() as session:
        key = api_key_headers(running)
        async with session.post(running.url + "/access/user", headers=key,
                                json={"username": "bob", "password": "secret1"}) as resp:
            user = {"Authorization": "Bearer " + (await resp.json())["result"]["token"]}
        url = running.url + "/api/plugin/example_admin_api"
        async with session.get(url, headers=user) as resp:
            assert resp.status == 403
        async with session.get(running.url + SIMPLE, headers=user) as resp:
            assert resp.status == 200  # the other one is for every user
        async with session.get(url, headers=key) as resp:
            assert resp.status == 200
    config = "[plugins]\nadmin_users: bob\n"
    async with plugin_host(tmp_path / "data", config) as running, \
            aiohttp.ClientSession() as session:
        async with session.post(running.url + "/access/login",
                                json={"username": "bob", "password": "secret1"}) as resp:
            user = {"Authorization": "Bearer " + (await resp.json())["result"]["token"]}
        async with session.get(running.url + "/api/plugin/example_admin_api",
                               headers=user) as resp:
            assert resp.status == 200


async def test_blueprint_routes_protection_and_error_bodies(tmp_path: Path) -> None:
    async with plugin_host(tmp_path / "data") as running, aiohttp.ClientSession() as session:
        key = api_key_headers(running)
        base = running.url + "/plugin/example_blueprint"
        async with session.get(base + "/echo", params={"text": "hi"}) as resp:
            assert resp.status == 401  # protected: loopback is not trusted here
        async with session.get(base + "/echo", params={"text": "hi"}, headers=key) as resp:
            assert resp.status == 200
            assert await resp.text() == "hi"
        async with session.get(base + "/echo", headers=key) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["message"] == "Expected a text to echo back."
        async with session.get(base + "/items/1", headers=key) as resp:
            assert await resp.json() == {"id": 1, "name": "first"}
        async with session.get(base + "/items/abc", headers=key) as resp:
            assert resp.status == 404  # <int:item_id> does not match
        async with session.get(base + "/items/9", headers=key) as resp:
            assert resp.status == 404
            assert resp.content_type == "application/json"
        async with session.post(base + "/items", headers=key, json={"name": "second"}) as resp:
            assert resp.status == 201  # an API key is a header credential: no CSRF token
            assert await resp.json() == {"id": 2}
        async with session.get(base + "/page/home", headers=key) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
        async with session.get(base + "/page/other", headers=key) as resp:
            assert resp.status == 404
            assert resp.content_type == "text/html"  # not an API prefix
            assert "no such page" in await resp.text()
        async with session.get(base + "/fail", headers=key) as resp:
            assert resp.status == 500
            assert "example failure" in (await resp.json())["error"]["message"]
        info = running.host.components["plugins"].manager.get_plugin_info("example_blueprint")
        assert any("example failure" in e for e in info.hook_errors)
        async with session.get(base + "/echo", params={"text": "still up"},
                               headers=key) as resp:
            assert await resp.text() == "still up"
        async with session.get(running.url + "/plugin/example_public_blueprint/ping") as resp:
            assert resp.status == 200
            assert await resp.json() == {"pong": True}
        async with session.get(running.url + "/plugin/example_public_blueprint/lost") as resp:
            assert resp.status == 404  # answered by the plugin's errorhandler(404)
            assert await resp.json() == {"lost": True, "why": "nothing here"}


async def test_blueprint_csrf_rules(tmp_path: Path) -> None:
    trusted_loopback = "[authorization]\ntrusted_clients: 127.0.0.0/8\n"
    async with plugin_host(tmp_path / "data", base=trusted_loopback) as running, \
            aiohttp.ClientSession() as session:
        base = running.url + "/plugin/example_blueprint"
        # a trusted client needs no credential, so a browser could be tricked: CSRF applies
        async with session.post(base + "/items", json={"name": "forged"}) as resp:
            assert resp.status == 400
            assert "CSRF" in (await resp.json())["error"]["message"]
        async with session.post(base + "/items", json={"name": "x"},
                                headers={"X-CSRF-Token": "abc",
                                         "Cookie": "csrf_token=other"}) as resp:
            assert resp.status == 400
        async with session.post(base + "/items", json={"name": "legit"},
                                headers={"X-CSRF-Token": "abc",
                                         "Cookie": "csrf_token=abc"}) as resp:
            assert resp.status == 201
        async with session.post(base + "/hook", json={}) as resp:
            assert resp.status == 200  # csrf_exempt
            assert await resp.json() == {"hooked": True}
        async with session.get(base + "/items/1") as resp:
            assert resp.status == 200  # safe methods are never checked
        assert sorted(get_plugin(running, "example_blueprint").items.values()) == [
            "first", "legit"]


async def test_assets_are_served_without_credentials_inside_their_folder(
        tmp_path: Path) -> None:
    async with plugin_host(tmp_path / "data") as running, aiohttp.ClientSession() as session:
        base = running.url + "/plugin/example_blueprint/static/"
        async with session.get(base + "js/example.js") as resp:
            assert resp.status == 200
            assert "moonliteExample" in await resp.text()
        async with session.get(base + "css/example.css") as resp:
            assert resp.status == 200
            assert "example-plugin" in await resp.text()
        for bad in ("js/missing.js", "..%2F..%2Fpyproject.toml", "%2E%2E/blueprint.py",
                    "js/%2E%2E/%2E%2E/blueprint.py"):
            # encoded=True: the client must not normalise the dots away
            async with session.get(URL(base + bad, encoded=True)) as resp:
                assert resp.status == 404, bad
        # dots that stay inside the asset folder are fine (so the ones above reached us)
        async with session.get(URL(base + "js/%2E%2E/css/example.css", encoded=True)) as resp:
            assert resp.status == 200
        async with session.get(running.url + "/plugin/example_events/static/x.js") as resp:
            assert resp.status == 404
