"""The `[analysis]` API over real HTTP and websocket connections."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from moonlite.components.analysis import Analysis
from moonlite.components.analysis.limits import parse_config

from moonlite.events import Events
from moonlite.testing import RpcCallError, RpcClient, RunningHost, running_host


async def post(session: aiohttp.ClientSession, host: RunningHost, path: str,
               body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with session.post(host.url + path, json=body) as resp:
        return resp.status, await resp.json()


async def test_status(analysis_host: RunningHost) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(analysis_host.url + "/server/analysis/status") as resp:
            assert resp.status == 200
            status = (await resp.json())["result"]
    assert status["estimator_ready"] is True
    assert status["estimator_version"] == "v1.0.0"
    assert status["using_default_config"] is True
    assert status["estimator_config_exists"] is False
    assert set(status) == {"estimator_executable", "estimator_ready", "estimator_version",
                           "estimator_config_exists", "using_default_config"}


async def test_estimate_over_http_and_websocket_with_cache(analysis_host: RunningHost) -> None:
    async with aiohttp.ClientSession() as session:
        status, body = await post(session, analysis_host, "/server/analysis/estimate",
                                  {"filename": "hexnut_marlin2.gcode"})
        assert status == 200, body
        first = body["result"]
        assert 59 < first["total_time"] < 64
        assert isinstance(first["layer_times"], list) and first["num_moves"] > 500
        component = analysis_host.host.lookup("analysis", Analysis)
        assert component is not None
        cached = len(component._cache)
        async with RpcClient.connect(analysis_host.ws_url, session) as client:
            again = await client.call("server.analysis.estimate",
                                      {"filename": "hexnut_marlin2.gcode"}, timeout=60)
        assert again == first
        assert len(component._cache) == cached == 1


async def test_estimate_with_config_from_the_config_root(analysis_host: RunningHost) -> None:
    cfg_dir = analysis_host.host.paths.config
    (cfg_dir / "slow.json").write_text(json.dumps({"max_velocity": 20, "max_acceleration": 500,
                                                   "square_corner_velocity": 5}))
    (cfg_dir / "bad.json").write_text(json.dumps({"max_velocity": "slow"}))
    async with aiohttp.ClientSession() as session:
        status, body = await post(session, analysis_host, "/server/analysis/estimate",
                                  {"filename": "hexnut_marlin2.gcode",
                                   "estimator_config": "slow.json"})
        assert status == 200, body
        assert body["result"]["max_speed"] == pytest.approx(20.0)
        assert body["result"]["total_time"] > 70
        status, body = await post(session, analysis_host, "/server/analysis/estimate",
                                  {"filename": "hexnut_marlin2.gcode",
                                   "estimator_config": "bad.json"})
        assert status == 400
        assert "max_velocity" in body["error"]["message"]


async def test_errors(analysis_host: RunningHost) -> None:
    gcodes = analysis_host.host.paths.gcodes
    (gcodes / "blob.gcode").write_bytes(b"\x00\xff" * 500)
    async with aiohttp.ClientSession() as session:
        for body, code in (
            ({"filename": "../moonlite.conf"}, 400),
            ({"filename": "/etc/passwd"}, 400),
            ({"filename": "missing.gcode"}, 404),
            ({"filename": "blob.gcode"}, 400),
            ({"filename": "hexnut_marlin2.gcode", "estimator_config": "../x.json"}, 400),
            ({"filename": "hexnut_marlin2.gcode", "estimator_config": "none.json"}, 404),
            ({}, 400),
        ):
            status, reply = await post(session, analysis_host, "/server/analysis/estimate", body)
            assert status == code, (body, reply)
            assert reply["error"]["message"]
        async with RpcClient.connect(analysis_host.ws_url, session) as client:
            with pytest.raises(RpcCallError) as err:
                await client.call("server.analysis.estimate", {"filename": "../../etc/passwd"})
            assert err.value.code == 400


async def test_process_then_bypass(analysis_host: RunningHost) -> None:
    path = analysis_host.host.paths.gcodes / "torus_marlin.gcode"
    async with aiohttp.ClientSession() as session:
        status, body = await post(session, analysis_host, "/server/analysis/process",
                                  {"filename": "torus_marlin.gcode"})
        assert status == 200, body
        assert body["result"] == {"prev_processed": False, "version": "v1.0.0",
                                  "bypassed": False}
        assert "; Processed by moonlite analysis v1.0.0" in path.read_text()
        status, body = await post(session, analysis_host, "/server/analysis/process",
                                  {"filename": "torus_marlin.gcode"})
        assert body["result"] == {"prev_processed": True, "version": "v1.0.0", "bypassed": True}
        status, body = await post(session, analysis_host, "/server/analysis/process",
                                  {"filename": "torus_marlin.gcode", "force": True})
        assert body["result"] == {"prev_processed": True, "version": "v1.0.0",
                                  "bypassed": False}


async def test_dump_config(analysis_host: RunningHost) -> None:
    async with aiohttp.ClientSession() as session:
        status, body = await post(session, analysis_host, "/server/analysis/dump_config",
                                  {"dest_config": "est_cfg_test.json"})
        assert status == 200, body
        result = body["result"]
        assert result["dest_root"] == "config"
        assert result["dest_config_path"] == "est_cfg_test.json"
        written = json.loads((analysis_host.host.paths.config / "est_cfg_test.json").read_text())
        assert written == result["klipper_estimator_config"]
        assert {"max_acceleration", "square_corner_velocity", "move_checkers",
                "junction_model", "max_jerk"} <= set(written)
        parse_config(written)  # a dumped config is a valid estimator config
        status, body = await post(session, analysis_host, "/server/analysis/dump_config", {})
        assert body["result"]["dest_root"] is None
        assert body["result"]["dest_config_path"] == "default_estimator_cfg.json"
        async with session.get(analysis_host.url + "/server/analysis/status") as resp:
            assert (await resp.json())["result"]["estimator_config_exists"] is True
        status, body = await post(session, analysis_host, "/server/analysis/dump_config",
                                  {"dest_config": "../outside.json"})
        assert status == 400


async def test_changed_file_is_estimated_again(analysis_host: RunningHost) -> None:
    path = analysis_host.host.paths.gcodes / "hexnut_marlin2.gcode"
    async with aiohttp.ClientSession() as session:
        _, body = await post(session, analysis_host, "/server/analysis/estimate",
                             {"filename": "hexnut_marlin2.gcode"})
        before = body["result"]["total_time"]
        with open(path, "a") as fh:
            fh.write("G4 S10\n")
        _, body = await post(session, analysis_host, "/server/analysis/estimate",
                             {"filename": "hexnut_marlin2.gcode"})
        assert body["result"]["total_time"] == pytest.approx(before + 10.0)


async def test_auto_analysis_of_added_files(tmp_path: Path, gcode_dir: Path) -> None:
    data = tmp_path / "data"
    (data / "gcodes").mkdir(parents=True)
    target = data / "gcodes" / "hexnut.gcode"
    shutil.copy(gcode_dir / "hexnut_marlin2.gcode", target)
    config = "[analysis]\nenable_auto_analysis: True\n"
    async with running_host(data, config) as running:
        running.host.events.fire(Events.FILE_ADDED, {"storage": "local", "path": "hexnut.gcode",
                                                     "name": "hexnut.gcode", "type": ["gcode"]})
        await running.host.events.drain(timeout=60)
    assert target.read_text().rstrip().endswith("detected slicer PrusaSlicer")


async def test_timeout_kills_the_worker(tmp_path: Path, gcode_dir: Path) -> None:
    data = tmp_path / "data"
    (data / "gcodes").mkdir(parents=True)
    shutil.copy(gcode_dir / "sphere_fine.gcode", data / "gcodes" / "sphere.gcode")
    async with running_host(data, "[analysis]\nestimator_timeout: 0.001\n") as running:
        async with aiohttp.ClientSession() as session:
            status, body = await post(session, running, "/server/analysis/estimate",
                                      {"filename": "sphere.gcode"})
        assert status == 500
        assert body["error"]["message"] == "Estimator timed out"
        component = running.host.lookup("analysis", Analysis)
        assert component is not None and component._pool is not None
        assert component._pool._idle == [] and not component._pool._busy


async def test_process_refreshes_file_metadata(tmp_path: Path, gcode_dir: Path) -> None:
    data = tmp_path / "data"
    (data / "gcodes").mkdir(parents=True)
    shutil.copy(gcode_dir / "hexnut_marlin2.gcode", data / "gcodes" / "hexnut.gcode")
    async with running_host(data, "[file_manager]\n[analysis]\n") as running:
        async with aiohttp.ClientSession() as session:
            url = running.url + "/server/files/metadata"
            async with session.get(url, params={"filename": "hexnut.gcode"}) as resp:
                assert (await resp.json())["result"]["estimated_time"] == 61
            status, body = await post(session, running, "/server/analysis/process",
                                      {"filename": "hexnut.gcode"})
            assert status == 200, body
            async with session.get(url, params={"filename": "hexnut.gcode"}) as resp:
                meta = (await resp.json())["result"]
    estimate = meta["estimated_time"]
    assert estimate == 62  # the rewritten "; estimated printing time" comment: 1m 2s


async def test_concurrent_estimates_of_one_file_run_once(analysis_host: RunningHost) -> None:
    component = analysis_host.host.lookup("analysis", Analysis)
    assert component is not None
    async with aiohttp.ClientSession() as session:
        replies = await asyncio.gather(*(
            post(session, analysis_host, "/server/analysis/estimate",
                 {"filename": "torus_marlin.gcode"}) for _ in range(4)))
    assert all(status == 200 for status, _ in replies)
    assert len({json.dumps(body["result"]) for _, body in replies}) == 1
    assert component._pool is not None and component._pool.jobs_started == 1
    assert not component._inflight


async def test_limits_precedence(analysis_host: RunningHost) -> None:
    """Given config > the file's recorded limits > the printer's (dumped default) > defaults."""
    host = analysis_host.host
    (host.paths.gcodes / "plain.gcode").write_text("G1 X100 F6000\nG1 Y100\n")
    async with aiohttp.ClientSession() as session:
        async def estimate(name: str) -> dict[str, Any]:
            status, body = await post(session, analysis_host, "/server/analysis/estimate",
                                      {"filename": name})
            assert status == 200, body
            return body["result"]

        assert (await estimate("plain.gcode"))["max_speed"] == pytest.approx(100.0)
        default = host.paths.data / "tools" / "analysis" / "default_estimator_cfg.json"
        default.parent.mkdir(parents=True)
        default.write_text(json.dumps({"max_feedrate": {"x": 20, "y": 20}}))
        assert (await estimate("plain.gcode"))["max_speed"] == pytest.approx(20.0)
        # the slicer recorded limits in this file: they win over the printer's
        assert (await estimate("hexnut_marlin2.gcode"))["max_speed"] == pytest.approx(130.0)
