"""Every core method over the websocket, HTTP at its Moonraker path and POST /server/jsonrpc."""

from __future__ import annotations

import logging.handlers
from pathlib import Path
from typing import Any

import pytest
from core_api_client import TRANSPORTS, Api, CallFailed, open_api

pytestmark = pytest.mark.parametrize("transport", TRANSPORTS)


def ours(cams: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The webcams of the config and the database (installed plugins may add their own)."""
    return [c for c in cams if c["source"] in ("config", "database")]


async def test_server_info(api: Api, transport: str) -> None:
    async with api.caller(transport) as call:
        info = await call("server.info")
    assert info["api_version"] == [1, 5, 0]
    assert info["api_version_string"] == "1.5.0"
    assert info["moonraker_version"].startswith("v0.")
    assert info["klippy_state"] == "disconnected"
    assert info["klippy_connected"] is False
    for name in ("database", "authorization", "machine", "webcam", "announcements"):
        assert name in info["components"]
    assert info["failed_components"] == []
    assert info["websocket_count"] == (1 if transport == "ws" else 0)


async def test_server_config(api: Api, transport: str) -> None:
    async with api.caller(transport) as call:
        config = await call("server.config")
    assert config["config"]["server"]["host"] == "127.0.0.1"
    assert "machine" in config["config"]
    expected_trusted = ["10.0.0.0/8"] if api.mode == "api_key" else ["127.0.0.0/8", "::1/128"]
    assert config["config"]["authorization"]["trusted_clients"] == expected_trusted
    if api.mode == "api_key":
        assert config["orig"]["authorization"]["trusted_clients"] == "10.0.0.0/8"
        assert config["files"][0]["sections"] == ["authorization"]


async def test_logs_rollover(api: Api, transport: str, tmp_path: Path) -> None:
    async with api.caller(transport) as call:
        without_file = await call("server.logs.rollover")
        assert without_file["rolled_over"] == []
        assert "moonlite" in without_file["failed"]
        log_file = tmp_path / "moonlite.log"
        handler = logging.handlers.RotatingFileHandler(log_file, backupCount=2)
        api.running.host.log_handler = handler
        try:
            handler.emit(logging.makeLogRecord({"msg": "before rollover"}))
            result = await call("server.logs.rollover", {"application": "moonlite"})
        finally:
            handler.close()
        assert result == {"rolled_over": ["moonlite"], "failed": {}}
        assert "before rollover" in (tmp_path / "moonlite.log.1").read_text()
        with pytest.raises(CallFailed) as err:
            await call("server.logs.rollover", {"application": "klipper"})
        assert err.value.code == 400
        assert "klipper" in err.value.message


async def test_machine_system_info(api: Api, transport: str) -> None:
    async with api.caller(transport) as call:
        info = (await call("machine.system_info"))["system_info"]
    assert info["python"]["version"][:2] == [3, 11]
    assert info["cpu_info"]["cpu_count"] >= 1
    assert info["cpu_info"]["total_memory"] > 0
    assert info["provider"] == "none"
    assert set(info["distribution"]) >= {"name", "id", "version", "version_parts",
                                         "kernel_version"}


async def test_machine_proc_stats(api: Api, transport: str) -> None:
    async with api.caller(transport) as call:
        stats = await call("machine.proc_stats")
    assert set(stats) >= {"moonraker_stats", "throttled_state", "cpu_temp", "network",
                          "system_cpu_usage", "system_memory", "system_uptime",
                          "websocket_connections"}
    assert stats["system_memory"]["total"] > 0
    assert stats["system_uptime"] > 0
    assert stats["websocket_connections"] == (1 if transport == "ws" else 0)


async def test_webcams_from_config_and_api(tmp_path: Path, transport: str) -> None:
    config = ("[webcam front]\nstream_url: /webcam/?action=stream\nrotation: 90\n"
              "location: door\n")
    async with open_api(tmp_path / "data", "trusted", config) as api, \
            api.caller(transport) as call:
        cams = ours((await call("server.webcams.list"))["webcams"])
        assert [c["name"] for c in cams] == ["front"]
        front = cams[0]
        assert (front["stream_url"], front["rotation"], front["location"]) == (
            "/webcam/?action=stream", 90, "door")
        assert front["source"] == "config"
        assert (await call("server.webcams.get_item", {"uid": front["uid"]}))["webcam"] == front
        added = (await call("server.webcams.post_item", {
            "name": "nozzle", "stream_url": "http://cam/stream", "target_fps": 30}))["webcam"]
        assert added["source"] == "database" and added["target_fps"] == 30
        names = [c["name"] for c in ours((await call("server.webcams.list"))["webcams"])]
        assert names == ["front", "nozzle"]
        got = (await call("server.webcams.get_item", {"name": "nozzle"}))["webcam"]
        assert got["stream_url"] == "http://cam/stream"
        with pytest.raises(CallFailed) as err:
            await call("server.webcams.post_item", {"name": "front"})
        assert err.value.code == 400 and "config" in err.value.message
        with pytest.raises(CallFailed) as err:
            await call("server.webcams.delete_item", {"name": "front"})
        assert err.value.code == 400
        deleted = (await call("server.webcams.delete_item", {"name": "nozzle"}))["webcam"]
        assert deleted["name"] == "nozzle"
        with pytest.raises(CallFailed) as err:
            await call("server.webcams.get_item", {"name": "nozzle"})
        assert err.value.code == (404 if transport == "http" else -32601)


async def test_announcements_list(api: Api, transport: str) -> None:
    async with api.caller(transport) as call:
        assert await call("server.announcements.list") == {"entries": [], "feeds": []}
        assert await call("server.announcements.list", {"include_dismissed": False}) == {
            "entries": [], "feeds": []}


async def test_websocket_only_methods(api: Api, transport: str) -> None:
    if transport == "ws":
        async with api.ws(identify=False) as client:
            ident = await client.call("server.connection.identify", {
                "client_name": "pytest", "version": "1", "type": "web", "url": "http://x",
                **({"api_key": api.running.host.auth.api_key} if api.mode == "api_key"
                   else {})})
            assert (await client.call("server.websocket.id"))["websocket_id"] == \
                ident["connection_id"]
            again = await client.request("server.connection.identify", {
                "client_name": "pytest", "version": "1", "type": "web", "url": "http://x"})
            assert again["error"]["code"] == 400
            assert "already identified" in again["error"]["message"]
        return
    for method in ("server.connection.identify", "server.websocket.id"):
        with pytest.raises(CallFailed) as err:
            if transport == "jsonrpc":
                await api.call("jsonrpc", method, {"client_name": "x", "version": "1",
                                                   "type": "web", "url": "x"})
            else:
                status, body = await api.http("POST", "/" + method.replace(".", "/"))
                raise CallFailed(status, body["error"]["message"])
        if transport == "jsonrpc":
            assert (err.value.code, err.value.message) == (
                -32601, "Method not found for transport HTTP")
        else:
            assert err.value.code == 404
