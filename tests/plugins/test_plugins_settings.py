"""SettingsPlugin over the API: round trip, preprocessors, restricted paths, persistence,
SettingsUpdated, and migration before on_settings_initialized."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from moonlite.testing import RpcClient, RunningHost
from tests.plugins.conftest import api_key_headers, get_plugin, plugin_host

SETTINGS_URL = "/server/plugins/settings"


async def _get(session: aiohttp.ClientSession, running: RunningHost,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
    async with session.get(running.url + SETTINGS_URL, params={"plugin": "example_settings"},
                           headers=headers or {}) as resp:
        assert resp.status == 200, await resp.text()
        result: dict[str, Any] = (await resp.json())["result"]["settings"]
        return result


async def _post(session: aiohttp.ClientSession, running: RunningHost, settings: dict[str, Any],
                headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
    return await session.post(running.url + SETTINGS_URL, headers=headers or {},
                              json={"plugin": "example_settings", "settings": settings})


async def test_settings_round_trip_persist_and_fire_settings_updated(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with plugin_host(data) as running, aiohttp.ClientSession() as session:
        key = api_key_headers(running)
        settings = await _get(session, running, key)
        assert settings["greeting"] == "hello"
        assert settings["shout"] == "QUIET PLEASE"  # getter preprocessor
        assert "_config_version" not in settings
        resp = await _post(session, running, {"name": "  Alice ", "greeting": "hi",
                                              "secrets": {"label": "changed"}}, key)
        assert resp.status == 200
        saved = (await resp.json())["result"]["settings"]
        assert saved["name"] == "alice"  # setter preprocessor
        assert saved["secrets"] == {"token": "default-token", "label": "changed"}
        updated = [p for _, name, p in running.host.events.history
                   if name == "SettingsUpdated"]
        assert {"plugin": "example_settings"} in updated
        # committed before the answer: only what differs from the defaults is stored
        stored = await running.host.database.get_item("plugin_settings", "example_settings")
        assert stored == {"name": "alice", "greeting": "hi", "secrets": {"label": "changed"},
                          "_config_version": 2}
        async with RpcClient.connect(running.ws_url, session, headers=key) as client:
            over_ws = await client.call("server.plugins.get_settings",
                                        {"plugin": "example_settings"})
            assert over_ws["settings"]["name"] == "alice"
            back = await client.call("server.plugins.post_settings", {
                "plugin": "example_settings", "settings": {"greeting": "hello"}})
            assert back["settings"]["greeting"] == "hello"
        stored = await running.host.database.get_item("plugin_settings", "example_settings")
        assert "greeting" not in stored  # back to the default: forgotten
    async with plugin_host(data) as running:
        plugin = get_plugin(running, "example_settings")
        assert plugin._settings.get(["name"]) == "alice"
        assert plugin._settings.get(["secrets", "label"]) == "changed"
        assert plugin.migrations == []  # already at version 2


async def test_restricted_paths_depend_on_who_asks(tmp_path: Path) -> None:
    async with plugin_host(tmp_path / "data") as running, aiohttp.ClientSession() as session:
        key = api_key_headers(running)
        async with session.post(running.url + "/access/user", headers=key,
                                json={"username": "alice", "password": "secret1"}) as resp:
            assert resp.status == 200
            user = {"Authorization": "Bearer " + (await resp.json())["result"]["token"]}
        anonymous = await _get(session, running)
        async with session.get(running.url + SETTINGS_URL) as resp:
            every = (await resp.json())["result"]["plugins"]
        assert every["example_settings"] == anonymous
        assert {"prusaslicer", "example_wizard"} <= set(every)
        assert anonymous["secrets"] == {"token": None, "label": "visible"}
        assert anonymous["user_only"] is None
        assert anonymous["internal"] == {"key": None}
        as_user = await _get(session, running, user)
        assert as_user["secrets"]["token"] is None
        assert as_user["user_only"] == "for users"
        assert as_user["internal"]["key"] is None
        as_admin = await _get(session, running, key)
        assert as_admin["secrets"]["token"] == "default-token"
        assert as_admin["user_only"] == "for users"
        assert as_admin["internal"]["key"] is None  # never over the API
        resp = await _post(session, running, {"name": "x"})
        assert resp.status == 401
        resp = await _post(session, running, {"secrets": {"token": "stolen"}}, user)
        assert resp.status == 403
        assert "secrets.token" in (await resp.json())["error"]["message"]
        resp = await _post(session, running, {"internal": {"key": "x"}}, key)
        assert resp.status == 403
        resp = await _post(session, running, {"user_only": "mine"}, user)
        assert resp.status == 200
        plugin = get_plugin(running, "example_settings")
        assert plugin._settings.get(["secrets", "token"]) == "default-token"
        assert plugin._settings.get(["user_only"]) == "mine"
        async with session.get(running.url + SETTINGS_URL, params={"plugin": "nope"},
                               headers=key) as resp:
            assert resp.status == 404


async def test_migration_runs_before_settings_initialized(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with plugin_host(data) as running:
        plugin = get_plugin(running, "example_settings")
        # nothing stored yet: migrated from "unknown" (None) to 2
        assert plugin.migrations == [(2, None)]
        assert plugin.calls == ["initialize", "migrate", "initialized"]
        # what version 1 of the plugin stored
        await running.host.database.post_item(
            "plugin_settings", ["example_settings"],
            {"greeting_text": "howdy", "_config_version": 1})
    async with plugin_host(data) as running:
        plugin = get_plugin(running, "example_settings")
        assert plugin.migrations == [(2, 1)]
        assert plugin.calls == ["initialize", "migrate", "initialized"]
        assert plugin.greeting_at_init == "howdy"
        stored = await running.host.database.get_item("plugin_settings", "example_settings")
        assert stored == {"greeting": "howdy", "_config_version": 2}
        async with aiohttp.ClientSession() as session:
            settings = await _get(session, running, api_key_headers(running))
        assert settings["greeting"] == "howdy"
        assert "greeting_text" not in settings
    async with plugin_host(data) as running:
        assert get_plugin(running, "example_settings").migrations == []
