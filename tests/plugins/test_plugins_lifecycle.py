"""Start-up/shutdown order, event delivery, environment detection and webcam providers."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import aiohttp

from moonlite.testing import RpcClient
from tests.plugins.conftest import (
    api_key_headers,
    get_plugin,
    plugin_host,
    plugin_manager,
    trace,
)


async def test_startup_and_shutdown_hooks_run_in_sorting_key_order(tmp_path: Path) -> None:
    async with plugin_host(tmp_path / "data") as running:
        started = trace(running)
        assert started == [
            ("example_lifecycle_b", "on_startup"), ("example_lifecycle_a", "on_startup"),
            ("example_lifecycle_b", "on_after_startup"),
            ("example_lifecycle_a", "on_after_startup"),
        ]
        startup_payload = next(p for _, name, p in running.host.events.history
                               if name == "plugin_example_trace")
        assert startup_payload["host"] == "127.0.0.1"
        # on_after_startup ran while the server was listening
        async with aiohttp.ClientSession() as session:
            async with session.get(running.url + "/plugin/example_public_blueprint/ping") as r:
                assert r.status == 200
    stopped = trace(running)[len(started):]
    assert stopped == [("example_lifecycle_a", "on_shutdown"),
                       ("example_lifecycle_b", "on_shutdown")]


async def test_events_reach_event_handler_plugins_in_order(tmp_path: Path) -> None:
    async with plugin_host(tmp_path / "data") as running, aiohttp.ClientSession() as session:
        events = get_plugin(running, "example_events")
        assert any(name == "Startup" for name, _ in events.received)
        # a real websocket client: the host fires ClientOpened / ClientClosed
        async with RpcClient.connect(running.ws_url, session,
                                     headers=api_key_headers(running)) as client:
            await client.call("server.info")
        for i in range(50):
            running.host.events.fire("plugin_test_sequence", {"i": i})
        await running.host.events.drain()
        opened = [p for name, p in events.received if name == "ClientOpened"]
        assert opened and opened[0]["remoteAddress"] == "127.0.0.1"
        sequence = [p["i"] for name, p in events.received if name == "plugin_test_sequence"]
        assert sequence == list(range(50))


async def test_environment_is_detected_and_extended_by_plugins(tmp_path: Path) -> None:
    async with plugin_host(tmp_path / "data") as running, \
            aiohttp.ClientSession(headers=api_key_headers(running)) as session:
        environment = get_plugin(running, "example_environment").environment
        assert environment["python"]["version"].startswith("3.")
        assert environment["hardware"]["cores"] >= 1
        assert environment["plugins"]["example_environment"] == {"answer": 42}
        async with session.get(running.url + "/server/plugins/environment") as resp:
            assert (await resp.json())["result"]["environment"] == environment


async def test_webcam_provider_lists_its_webcam_and_serves_snapshots(tmp_path: Path) -> None:
    async with plugin_host(tmp_path / "data") as running, aiohttp.ClientSession() as session:
        headers = api_key_headers(running)
        async with session.get(running.url + "/server/webcams/list", headers=headers) as resp:
            cams = {c["name"]: c for c in (await resp.json())["result"]["webcams"]}
        cam = cams["example_cam"]
        assert cam["source"] == "plugin"
        assert cam["stream_url"] == "http://camera.invalid/stream"
        assert cam["flip_horizontal"] is True
        assert cam["extra_data"]["plugin"] == "example_webcam"
        assert cam["snapshot_url"] == "/plugin/example_webcam/webcam/example_cam/snapshot"
        async with session.get(running.url + cam["snapshot_url"]) as resp:
            assert resp.status == 401  # snapshots need a credential
        async with session.get(running.url + cam["snapshot_url"], headers=headers) as resp:
            assert resp.status == 200
            assert resp.content_type == "image/jpeg"
            body = await resp.read()
        assert body.startswith(b"\xff\xd8") and body.endswith(b"\xff\xd9")
        async with session.get(running.url + "/plugin/example_webcam/webcam/nope/snapshot",
                               headers=headers) as resp:
            assert resp.status == 500
            assert "nope" in (await resp.json())["error"]["message"]


async def test_blocking_hooks_run_in_a_worker_thread(tmp_path: Path) -> None:
    async with plugin_host(tmp_path / "data",
                           folder_plugins=("blocking_hooks.py",)) as running:
        plugin = get_plugin(running, "blocking_hooks")
        assert plugin.startup_thread is not None
        assert plugin.startup_thread != threading.main_thread().name
        stored = await running.host.database.get_item("plugin_settings", "blocking_hooks")
        assert stored["seen_thread"] == plugin.startup_thread


async def test_a_stalling_plugin_delays_neither_startup_nor_the_bus(tmp_path: Path) -> None:
    config = "[plugins]\nhook_timeout: 0.5\n"
    async with plugin_host(tmp_path / "data", config,
                           folder_plugins=("stalling_plugin.py",)) as running:
        info = plugin_manager(running).get_plugin_info("stalling_plugin")
        assert info is not None and info.loaded
        assert any("on_startup" in e and "did not finish" in e for e in info.hook_errors)
        # the others started normally, after it was abandoned
        assert ("example_lifecycle_a", "on_after_startup") in trace(running)
        events = get_plugin(running, "example_events")
        arrived = events.next_event("plugin_test_after")
        running.host.events.fire("plugin_test_stall", {})
        running.host.events.fire("plugin_test_after", {"n": 1})
        assert await asyncio.wait_for(arrived, 5) == {"n": 1}
        assert "plugin_test_after" not in get_plugin(running, "stalling_plugin").after_stall
