"""Loading: example plugins through real entry points, the data folder, failures, isolation."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from moonlite.testing import RpcClient
from tests.plugins.conftest import api_key_headers, get_plugin, plugin_host, plugin_manager

EXAMPLES = {
    "example_lifecycle_a": ["StartupPlugin", "ShutdownPlugin"],
    "example_settings": ["StartupPlugin", "SettingsPlugin"],
    "example_events": ["EventHandlerPlugin"],
    "example_progress": ["ProgressPlugin"],
    "example_simple_api": ["SimpleApiPlugin"],
    "example_blueprint": ["BlueprintPlugin", "AssetPlugin"],
    "example_webcam": ["WebcamProviderPlugin"],
    "example_environment": ["EnvironmentDetectionPlugin"],
    "example_slicer": ["SlicerPlugin"],
    "example_wizard": ["SettingsPlugin", "WizardPlugin", "TemplatePlugin", "UiPlugin"],
}


async def test_entry_point_plugins_are_listed_with_versions_and_types(tmp_path: Path) -> None:
    async with plugin_host(tmp_path / "data") as running, aiohttp.ClientSession() as session:
        async with session.get(running.url + "/server/plugins/list",
                               headers=api_key_headers(running)) as resp:
            assert resp.status == 200
            listed = (await resp.json())["result"]
        by_id = {p["identifier"]: p for p in listed["plugins"]}
        for identifier, types in EXAMPLES.items():
            assert identifier in by_id, identifier
            assert by_id[identifier]["source"] == "entry_point"
            assert by_id[identifier]["types"] == types, identifier
        assert by_id["example_settings"]["version"] == "2.0.0"
        assert by_id["example_lifecycle_b"]["name"] == "Lifecycle example B"
        assert by_id["example_lifecycle_b"]["version"] == "1.0.0"  # inherited from A
        assert by_id["prusaslicer"]["source"] == "bundled"
        assert listed["failed"] == []
        async with RpcClient.connect(running.ws_url, session,
                                     headers=api_key_headers(running)) as client:
            info = await client.call("server.info")
        assert set(EXAMPLES) <= set(info["plugins"])
        assert info["failed_plugins"] == []
        assert "plugins" in info["components"]


async def test_folder_plugins_load_and_failures_are_reported(tmp_path: Path) -> None:
    folder = ("single_file_plugin.py", "packaged_plugin", "import_error.py",
              "no_implementation.py")
    async with plugin_host(tmp_path / "data", folder_plugins=folder) as running, \
            aiohttp.ClientSession(headers=api_key_headers(running)) as session:
        assert get_plugin(running, "single_file_plugin").started == 1
        async with session.get(running.url + "/api/plugin/packaged_plugin") as resp:
            assert resp.status == 200
            assert await resp.json() == {"answer": 42}
        async with session.get(running.url + "/server/info") as resp:
            info = (await resp.json())["result"]
        assert {"single_file_plugin", "packaged_plugin"} <= set(info["plugins"])
        assert sorted(info["failed_plugins"]) == ["import_error", "no_implementation"]
        async with session.get(running.url + "/server/plugins/list") as resp:
            listed = (await resp.json())["result"]
        failed = {p["identifier"]: p for p in listed["failed"]}
        assert "broken on purpose" in failed["import_error"]["error"]
        assert "__plugin_implementation__" in failed["no_implementation"]["error"]
        versions = {p["identifier"]: p["version"] for p in listed["plugins"]}
        assert versions["single_file_plugin"] == "0.3"
        assert versions["packaged_plugin"] == "2.1"
        assert all(p["source"] == "folder" for p in listed["plugins"]
                   if p["identifier"] in ("single_file_plugin", "packaged_plugin"))


async def test_disabled_plugins_are_not_loaded(tmp_path: Path) -> None:
    config = "[plugins]\ndisabled: example_webcam, prusaslicer\nload_folder: False\n"
    async with plugin_host(tmp_path / "data", config,
                           folder_plugins=("single_file_plugin.py",)) as running:
        manager = plugin_manager(running)
        assert manager.get_plugin("example_webcam") is None
        assert manager.get_plugin("prusaslicer") is None
        assert manager.get_plugin("single_file_plugin") is None
        assert manager.get_plugin("example_events") is not None


async def test_a_plugin_raising_in_every_hook_hurts_nobody_else(tmp_path: Path) -> None:
    async with plugin_host(tmp_path / "data", folder_plugins=("broken_hooks.py",)) as running, \
            aiohttp.ClientSession(headers=api_key_headers(running)) as session:
        manager = plugin_manager(running)
        # it stays loaded; its failures are recorded against it
        broken = manager.get_plugin_info("broken_hooks")
        assert broken is not None and broken.loaded
        hooks = " ".join(broken.hook_errors)
        for hook in ("initialize", "on_settings_initialized", "on_startup",
                     "on_after_startup", "get_sorting_key"):
            assert hook in hooks, hook
        # the others ran all their hooks
        assert get_plugin(running, "example_settings").calls[-1] == "initialized"
        assert get_plugin(running, "example_environment").environment is not None
        # events and progress still reach the healthy plugins
        async with RpcClient.connect(running.ws_url, session) as client:
            await client.call("server.info")
        await running.host.events.drain()
        assert any(e == "ClientOpened" for e, _ in get_plugin(running, "example_events")
                   .received)
        assert "on_event" in " ".join(broken.hook_errors)
        manager.notify_print_progress("local", "a.gcode", 3.0)
        await manager.drain_calls()
        assert get_plugin(running, "example_progress").prints == [("local", "a.gcode", 3)]
        assert "on_print_progress" in " ".join(broken.hook_errors)
        # its API fails alone, with a JSON 500; the server answers the next request
        async with session.get(running.url + "/api/plugin/broken_hooks") as resp:
            assert resp.status == 500
            assert "broken api" in (await resp.json())["error"]["message"]
        async with session.get(running.url + "/server/plugins/list") as resp:
            listed = (await resp.json())["result"]
        entry = next(p for p in listed["plugins"] if p["identifier"] == "broken_hooks")
        assert entry["hook_errors"]
    assert "on_shutdown" in " ".join(broken.hook_errors)
