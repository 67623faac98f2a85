"""server.history.* over real websocket and HTTP, fed by Print* events fired on the bus."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from history_helpers import CONFIG, MetadataFiles, finished, next_change, put_gcode, started
from moonlite.components.history import History

from moonlite.events import Events
from moonlite.testing import RpcCallError, RpcClient, RunningHost, running_host

RECORD_KEYS = {"job_id", "user", "filename", "status", "start_time", "end_time",
               "print_duration", "total_duration", "filament_used", "metadata",
               "auxiliary_data", "exists"}


def history_of(running: RunningHost) -> History:
    comp = running.host.get_component("history")
    assert isinstance(comp, History)
    return comp


async def http_get(session: aiohttp.ClientSession, running: RunningHost, path: str,
                   status: int = 200, **params: Any) -> Any:
    async with session.get(running.url + path, params=params) as resp:
        body = await resp.json()
        assert resp.status == status, body
        return body.get("result", body)


async def test_a_job_is_recorded_from_start_to_finish(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", CONFIG) as running, \
            aiohttp.ClientSession() as session, \
            RpcClient.connect(running.ws_url, session) as client:
        host = running.host
        gcode = put_gcode(host, "sub dir/cube.gcode")
        mtime = gcode.stat().st_mtime
        host.components["file_manager"] = MetadataFiles(host, {"sub dir/cube.gcode": {
            "size": 6, "modified": mtime, "slicer": "PrusaSlicer", "estimated_time": 120,
            "job_id": "00000A", "print_start_time": 1.0,
            "thumbnails": [{"width": 32, "height": 32, "size": 100, "data": "AAAA",
                            "relative_path": ".thumbs/cube-32x32.png"}],
        }})

        host.events.fire(Events.PRINT_STARTED, started("sub dir/cube.gcode", source="upload"))
        added = await client.next_notification("notify_history_changed")
        change = added["params"][0]
        assert change["action"] == "added"
        job = change["job"]
        assert set(job) == RECORD_KEYS
        assert re.fullmatch(r"[0-9A-F]{6}", job["job_id"])
        assert job["status"] == "in_progress"
        assert job["filename"] == "sub dir/cube.gcode"
        assert job["end_time"] is None and job["exists"] is True
        assert job["auxiliary_data"] == [] and job["user"] == "No User"
        # the job's copy of the metadata drops what describes a job rather than the file
        assert job["metadata"]["estimated_time"] == 120
        assert "job_id" not in job["metadata"] and "print_start_time" not in job["metadata"]
        assert "data" not in job["metadata"]["thumbnails"][0]
        # the file's own metadata now names the job that printed it last (as in Moonraker)
        files = host.get_component("file_manager")
        assert isinstance(files, MetadataFiles)
        assert files.metadata["sub dir/cube.gcode"]["job_id"] == job["job_id"]
        assert files.metadata["sub dir/cube.gcode"]["print_start_time"] == job["start_time"]

        host.events.fire(Events.PRINT_DONE, finished("sub dir/cube.gcode", 100.5, 130.25,
                                                     812.5))
        change = (await client.next_notification("notify_history_changed"))["params"][0]
        assert change["action"] == "finished"
        done = change["job"]
        assert done["job_id"] == job["job_id"] and done["status"] == "completed"
        assert done["print_duration"] == 100.5 and done["total_duration"] == 130.25
        assert done["filament_used"] == 812.5
        assert done["end_time"] >= done["start_time"]

        listed = await http_get(session, running, "/server/history/list")
        assert listed["count"] == 1 and listed["jobs"][0] == done
        one = await http_get(session, running, "/server/history/job", uid=job["job_id"])
        assert one["job"] == done
        totals = await client.call("server.history.totals")
        assert totals == {"job_totals": {
            "total_jobs": 1, "total_time": 130.25, "total_print_time": 100.5,
            "total_filament_used": 812.5, "longest_job": 130.25, "longest_print": 100.5,
        }, "auxiliary_totals": []}

        # a file changed since the job no longer "exists" as the job's file; a gone one neither
        gcode.write_text("G28\nG1 X1\n")
        os.utime(gcode, (mtime + 10, mtime + 10))
        assert (await client.call("server.history.get_job",
                                  {"uid": job["job_id"]}))["job"]["exists"] is False
        gcode.unlink()
        assert (await client.call("server.history.list"))["jobs"][0]["exists"] is False


async def test_statuses_follow_the_event_that_ended_the_job(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", CONFIG) as running, \
            RpcClient.connect(running.ws_url) as client:
        bus = running.host.events
        expectations = [
            (Events.PRINT_CANCELLED, {}, "cancelled"),
            (Events.PRINT_FAILED, {"reason": "error"}, "error"),
            (Events.PRINT_FAILED, {"reason": "klippy_shutdown"}, "klippy_shutdown"),
            (Events.PRINT_FAILED, {"reason": "klippy_disconnect"}, "klippy_disconnect"),
            (Events.PRINT_FAILED, {"reason": "something new"}, "error"),
        ]
        for i, (event, extra, status) in enumerate(expectations):
            path = f"job{i}.gcode"
            bus.fire(Events.PRINT_STARTED, started(path, origin="sdcard", source="sdcard"))
            bus.fire(event, finished(path, 1.0, 2.0, 3.0, **extra))
            await client.next_notification("notify_history_changed")
            note = await client.next_notification("notify_history_changed")
            assert note["params"][0]["job"]["status"] == status, (event, extra)
            # an SD card file is not in the gcodes root
            assert note["params"][0]["job"]["exists"] is False

        # a start while a job is recorded as running ends that job as cancelled
        bus.fire(Events.PRINT_STARTED, started("a.gcode"))
        bus.fire(Events.PRINT_STARTED, started("b.gcode"))
        first = (await client.next_notification("notify_history_changed"))["params"][0]
        ended = (await client.next_notification("notify_history_changed"))["params"][0]
        second = (await client.next_notification("notify_history_changed"))["params"][0]
        assert (first["action"], ended["action"], second["action"]) == \
            ("added", "finished", "added")
        assert ended["job"]["job_id"] == first["job"]["job_id"]
        assert ended["job"]["status"] == "cancelled"
        bus.fire(Events.PRINT_DONE, finished("b.gcode", 1.0, 2.0, 3.0))
        await client.next_notification("notify_history_changed")
        # a finish with no job recorded as running is ignored
        bus.fire(Events.PRINT_DONE, finished("stray.gcode", 1.0, 2.0, 3.0))
        await bus.drain()
        await history_of(running).settled()
        totals = (await client.call("server.history.totals"))["job_totals"]
        assert totals["total_jobs"] == 7
        assert (await client.call("server.history.list"))["count"] == 7


async def test_list_paging_filters_and_order(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", CONFIG) as running, \
            aiohttp.ClientSession() as session:
        bus = running.host.events
        for i in range(5):
            bus.fire(Events.PRINT_STARTED, started(f"p{i}.gcode"))
            bus.fire(Events.PRINT_DONE, finished(f"p{i}.gcode", i, i, i))
        await running.host.events.drain()
        await history_of(running).settled()
        every = await http_get(session, running, "/server/history/list")
        ids = [j["job_id"] for j in every["jobs"]]
        assert every["count"] == 5 and ids == sorted(ids, reverse=True)
        asc = await http_get(session, running, "/server/history/list", order="asc",
                             limit="2", start="1")
        assert [j["job_id"] for j in asc["jobs"]] == sorted(ids)[1:3] and asc["count"] == 2
        assert (await http_get(session, running, "/server/history/list",
                               limit="0"))["count"] == 5
        third = every["jobs"][2]
        since = await http_get(session, running, "/server/history/list",
                               since=str(third["start_time"]))
        assert all(j["start_time"] > third["start_time"] for j in since["jobs"])
        assert third["job_id"] not in [j["job_id"] for j in since["jobs"]]
        before = await http_get(session, running, "/server/history/list",
                                before=str(third["end_time"]))
        assert all(j["end_time"] < third["end_time"] for j in before["jobs"])
        bad = await http_get(session, running, "/server/history/list", status=400,
                             order="sideways")
        assert "order" in bad["error"]["message"]


async def test_delete_and_reset_totals(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", CONFIG) as running, \
            aiohttp.ClientSession() as session, \
            RpcClient.connect(running.ws_url, session) as client:
        bus = running.host.events
        for i in range(3):
            bus.fire(Events.PRINT_STARTED, started(f"d{i}.gcode"))
            bus.fire(Events.PRINT_DONE, finished(f"d{i}.gcode", 10, 20, 30))
        await bus.drain()
        await history_of(running).settled()
        ids = [j["job_id"] for j in (await client.call("server.history.list"))["jobs"]]

        async with session.delete(running.url + "/server/history/job",
                                  params={"uid": ids[0]}) as resp:
            assert resp.status == 200
            assert (await resp.json())["result"] == {"deleted_jobs": [ids[0]]}
        with pytest.raises(RpcCallError) as missing:
            await client.call("server.history.get_job", {"uid": ids[0]})
        assert missing.value.code == -32601 and ids[0] in missing.value.message
        with pytest.raises(RpcCallError) as garbage:
            await client.call("server.history.delete_job", {"uid": "not-hex"})
        assert garbage.value.code == -32601
        with pytest.raises(RpcCallError) as no_uid:
            await client.call("server.history.delete_job", {})
        assert "uid" in no_uid.value.message
        async with session.delete(running.url + "/server/history/job",
                                  params={"all": "true"}) as resp:
            rest = (await resp.json())["result"]
        assert sorted(rest["deleted_jobs"]) == sorted(ids[1:])
        assert (await client.call("server.history.list")) == {"count": 0, "jobs": []}
        # deleting jobs keeps the totals (as in Moonraker)
        totals = (await client.call("server.history.totals"))["job_totals"]
        assert totals["total_jobs"] == 3 and totals["total_filament_used"] == 90

        bus.fire(Events.PRINT_STARTED, started("running.gcode"))
        await next_change(client, "added", "running.gcode")
        async with session.post(running.url + "/server/history/reset_totals") as resp:
            assert resp.status == 400
        bus.fire(Events.PRINT_CANCELLED, finished("running.gcode", 1, 1, 1))
        await next_change(client, "finished", "running.gcode")
        reset = await client.call("server.history.reset_totals")
        assert reset["last_totals"]["total_jobs"] == 4
        assert reset["last_auxiliary_totals"] == []
        assert (await client.call("server.history.totals"))["job_totals"] == {
            "total_jobs": 0, "total_time": 0.0, "total_print_time": 0.0,
            "total_filament_used": 0.0, "longest_job": 0.0, "longest_print": 0.0}
        # ids are never reused, even after everything was deleted
        bus.fire(Events.PRINT_STARTED, started("new.gcode"))
        new = await next_change(client, "added", "new.gcode")
        assert int(new["job_id"], 16) > max(int(i, 16) for i in ids)


async def test_metadata_comes_from_the_files_component(tmp_path: Path, gcode_dir: Path) -> None:
    async with running_host(tmp_path / "data", "[file_manager]\n" + CONFIG) as running, \
            RpcClient.connect(running.ws_url) as client:
        target = running.host.paths.gcodes / "shared" / "hexnut.gcode"
        target.parent.mkdir(parents=True)
        target.write_bytes((gcode_dir / "hexnut_marlin2.gcode").read_bytes())
        expected = await client.call("server.files.metadata",
                                     {"filename": "shared/hexnut.gcode"})
        assert expected["estimated_time"] == 61  # PrusaSlicer's "1m 1s"
        running.host.events.fire(Events.PRINT_STARTED, started("shared/hexnut.gcode"))
        job = await next_change(client, "added", "shared/hexnut.gcode")
        assert job["exists"] is True
        assert job["metadata"]["slicer"] == expected["slicer"]
        assert job["metadata"]["estimated_time"] == expected["estimated_time"]
        assert job["metadata"]["modified"] == expected["modified"]
        assert "print_start_time" not in job["metadata"]
