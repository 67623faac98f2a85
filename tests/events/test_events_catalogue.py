"""Every event of seed 002 that moonlite fires, with its payload keys, from real actions on a
real host (virtual printer, files, history, plugins) driven over HTTP and the websocket."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from events_catalogue import CATALOGUE, MOONLITE_EXTRAS, NOT_FIRED, POSITION_KEYS, SEED_KEYS

from moonlite.events import Events
from moonlite.testing import RpcCallError, RpcClient, RunningHost, running_host, wait_until

REPO = Path(__file__).resolve().parents[2]
GCODE = REPO.parent / "shared" / "gcode"
HERE = Path(__file__).resolve().parent
EXAMPLE_PLUGINS = REPO / "examples" / "plugins"
if importlib.util.find_spec("moonlite_example_plugins") is None:
    # catalogue_plugin.py builds on the example slicer, installed or not
    sys.path.insert(0, str(EXAMPLE_PLUGINS))

CONFIG = """\
[printer]
timeout_communication: 5

[virtual_printer]
time_scale: 0
tools: 2

[file_manager]

[history]

[plugins]
load_entry_points: False
load_bundled: False
"""

HEXNUT = "hexnut.gcode"
SPHERE = "sphere.gcode"

#: G-code sent over the API, one request each, and the event each must fire
GCODE_EVENTS: list[tuple[str, str]] = [
    ("G28", "Home"), ("G1 Z5 F300", "ZChange"), ("G4 P1", "Dwell"),
    ("M0 P1", "Waiting"),  # P1: the virtual printer waits 1 ms, not for the user
    ("M80", "PowerOn"), ("M81", "PowerOff"), ("M245", "Cooling"), ("M300 S440 P10", "Alert"),
    ("M240", "Conveyor"), ("M40", "Eject"), ("M114", "PositionUpdate"), ("T1", "ToolChange"),
    ("T0", "ToolChange"),
]
#: commands Marlin does not implement: the API answers 400, the event still fires (sent)
UNKNOWN_TO_MARLIN = {"M245", "M240", "M40"}


class EventRecorder:
    """Every event of the bus: what was fired before it subscribed (the bus's history) and
    everything after, with waits that wake on each event."""

    def __init__(self, running: RunningHost) -> None:
        bus = running.host.events
        # no await between the snapshot and the subscription: nothing is missed or doubled
        self.events: list[tuple[str, dict[str, Any]]] = [(e, p) for _t, e, p in bus.history]
        self._changed = asyncio.Event()
        bus.subscribe("*", self._on_event)

    def _on_event(self, event: str, payload: dict[str, Any]) -> None:
        self.events.append((event, payload))
        self._changed.set()

    def named(self, name: str) -> list[dict[str, Any]]:
        """The payloads of every `name` event so far."""
        return [payload for event, payload in self.events if event == name]

    def index(self, name: str, start: int = 0, where: Callable[[dict[str, Any]], bool] = (
            lambda _p: True)) -> int:
        """Position of the first `name` event at or after `start` matching `where` (-1)."""
        for i in range(start, len(self.events)):
            event, payload = self.events[i]
            if event == name and where(payload):
                return i
        return -1

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait until `condition()` holds, checked after each event."""
        await wait_until(condition, self._changed, timeout)

    async def wait_event(self, name: str, start: int = 0, timeout: float = 20.0,
                         where: Callable[[dict[str, Any]], bool] = lambda _p: True
                         ) -> dict[str, Any]:
        """Wait for a `name` event at or after position `start`; return its payload."""
        await self.wait_for(lambda: self.index(name, start, where) >= 0, timeout)
        return self.events[self.index(name, start, where)][1]


def test_catalogue_accounts_for_every_seed_event() -> None:
    seed_events = {e.value for e in Events}
    assert set(CATALOGUE) | set(NOT_FIRED) == seed_events
    assert not set(CATALOGUE) & set(NOT_FIRED)
    assert set(MOONLITE_EXTRAS) <= set(CATALOGUE)


def _doc_rows() -> dict[str, tuple[str, set[str], set[str]]]:
    """docs/events.md's table: event -> (fired by, seed keys, moonlite extras)."""
    rows: dict[str, tuple[str, set[str], set[str]]] = {}
    text = (REPO / "docs" / "events.md").read_text()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not re.fullmatch(r"`\w+`", cells[0]):
            continue
        rows[cells[0].strip("`")] = (cells[1], set(re.findall(r"`([\w.]+)`", cells[2])),
                                      set(re.findall(r"`([\w.]+)`", cells[3])))
    return rows


def test_docs_table_mirrors_the_catalogue() -> None:
    rows = _doc_rows()
    assert set(rows) == set(CATALOGUE) | set(NOT_FIRED)
    for event, (fired_by, seed, extras) in rows.items():
        if event in NOT_FIRED:
            assert fired_by.lower().startswith("not fired"), event
            continue
        assert not fired_by.lower().startswith("not fired"), event
        assert seed == SEED_KEYS[event], event
        assert extras == MOONLITE_EXTRAS.get(event, frozenset()), event


async def _upload(session: aiohttp.ClientSession, running: RunningHost, path: Path,
                  name: str) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("root", "gcodes")
    form.add_field("file", path.read_bytes(), filename=name,
                   content_type="application/octet-stream")
    async with session.post(running.url + "/server/files/upload", data=form) as resp:
        assert resp.status == 201, await resp.text()
        result: dict[str, Any] = await resp.json()
        return result


async def _start_print(session: aiohttp.ClientSession, running: RunningHost, name: str) -> None:
    async with session.post(running.url + "/printer/print/start",
                            params={"filename": name}) as resp:
        assert resp.status == 200, await resp.text()


def _path_is(path: str) -> Callable[[dict[str, Any]], bool]:
    return lambda payload: bool(payload.get("path") == path)


async def _files_actions(log: EventRecorder, session: aiohttp.ClientSession,
                         running: RunningHost, client: RpcClient) -> None:
    for source, name in ((GCODE / "hexnut_marlin2.gcode", HEXNUT),
                         (GCODE / "sphere_fine.gcode", SPHERE)):
        await _upload(session, running, source, name)
        await log.wait_event("MetadataAnalysisFinished", where=_path_is(name))
    upload = await log.wait_event("Upload", where=_path_is(HEXNUT))
    assert upload == {"name": HEXNUT, "path": HEXNUT, "target": "local", "file": HEXNUT}
    assert {"type": "printables"} in log.named("UpdatedFiles")
    assert {"type": "gcode"} in log.named("UpdatedFiles")  # the deprecated type, still sent

    start = len(log.events)
    await client.call("server.files.post_directory", {"path": "gcodes/parts"})
    # OctoPrint fires UpdatedFiles after a folder change too
    await log.wait_event("UpdatedFiles", start)
    assert 0 <= log.index("FolderAdded", start) < log.index("UpdatedFiles", start)
    await client.call("server.files.copy", {"source": f"gcodes/{HEXNUT}",
                                            "dest": "gcodes/parts/nut.gcode"})
    start = len(log.events)
    await client.call("server.files.move", {"source": "gcodes/parts", "dest": "gcodes/moved"})
    await log.wait_event("FileAdded", start, where=_path_is("moved/nut.gcode"))
    removed = log.index("FolderRemoved", start, lambda p: p["path"] == "parts")
    added = log.index("FolderAdded", start, lambda p: p["path"] == "moved")
    # seed: a moved folder first triggers FolderRemoved, then FolderAdded
    assert 0 <= removed < added
    assert log.index("FileAdded", start, _path_is("moved/nut.gcode")) > added
    await client.call("server.files.delete_directory", {"path": "gcodes/moved", "force": True})
    await log.wait_event("FolderRemoved", start, where=lambda p: p["path"] == "moved")
    removed_file = await log.wait_event("FileRemoved", start,
                                        where=lambda p: p["path"] == "moved/nut.gcode")
    assert removed_file == {"storage": "local", "path": "moved/nut.gcode", "name": "nut.gcode",
                            "type": ["machinecode", "gcode"]}


async def _gcode_actions(log: EventRecorder, client: RpcClient) -> None:
    for line, event in GCODE_EVENTS:
        start = len(log.events)
        try:
            await client.call("printer.gcode.script", {"script": line})
        except RpcCallError as exc:
            assert line in UNKNOWN_TO_MARLIN and exc.code == 400, (line, exc)
        await log.wait_event(event, start)
    assert log.named("PositionUpdate")[-1] == {"x": 0.0, "y": 0.0, "z": 5.0, "e": 0.0,
                                               "t": 0, "f": 300.0}
    assert log.named("ToolChange")[-2:] == [{"old": 0, "new": 1}, {"old": 1, "new": 0}]
    assert {"new": 5.0, "old": 0.0} in log.named("ZChange")


async def _job_actions(log: EventRecorder, session: aiohttp.ClientSession,
                       running: RunningHost, client: RpcClient) -> None:
    # from the console (a Klipper-style command sent as G-code)
    await client.call("printer.gcode.script", {"script": f"SDCARD_PRINT_FILE FILENAME={HEXNUT}"})
    started = await log.wait_event("PrintStarted")
    assert started["job_source"] == "console" and started["path"] == HEXNUT
    done = await log.wait_event("PrintDone")
    assert done["path"] == HEXNUT and done["origin"] == "local"
    assert done["time"] == done["print_duration"] and done["filament_used"] > 0

    start = len(log.events)
    await _start_print(session, running, SPHERE)
    started = await log.wait_event("PrintStarted", start)
    assert started["job_source"] == "api" and started["path"] == SPHERE
    # pause on the first layer change of the job, then resume and cancel over the API
    await log.wait_event("ZChange", start)
    await client.call("printer.print.pause")
    paused = await log.wait_event("PrintPaused", start)
    assert set(paused["position"]) >= POSITION_KEYS
    await client.call("printer.print.resume")
    await log.wait_event("PrintResumed", start)
    await client.call("printer.print.cancel")
    cancelled = await log.wait_event("PrintCancelled", start)
    assert cancelled["path"] == SPHERE and set(cancelled["position"]) >= POSITION_KEYS
    assert log.index("PrintDone", start) == -1

    # copy to the SD card and forget the selection: PrinterInterface calls (no HTTP form)
    printer: Any = running.host.get_component("printer")
    remote = await printer.add_sd_file(HEXNUT)
    assert await log.wait_event("TransferStarted", start) == {"local": HEXNUT, "remote": remote}
    await log.wait_event("TransferDone", start)
    printer.unselect_file()
    await log.wait_event("FileDeselected", start)


async def _plugin_actions(log: EventRecorder, running: RunningHost, client: RpcClient) -> None:
    gcodes = running.host.paths.gcodes
    for name, text in (("cube.stl", "solid cube"), ("bad.stl", "solid fail"),
                       ("slow.stl", "solid slow")):
        (gcodes / name).write_text(text)
    start = len(log.events)
    await client.call("server.plugins.post_settings",
                      {"plugin": "catalogue_plugin", "settings": {"greeting": "hi"}})
    assert await log.wait_event("SettingsUpdated", start) == {"plugin": "catalogue_plugin"}
    await client.call("server.plugins.slicing.slice", {"slicer": "catalogue",
                                                      "source": "cube.stl"})
    sliced = await log.wait_event("SlicingDone", start)
    assert sliced["gcode"] == "cube.gcode" and sliced["stl"] == "cube.stl"
    await client.call("server.plugins.slicing.slice", {"slicer": "catalogue",
                                                      "source": "bad.stl"})
    assert (await log.wait_event("SlicingFailed", start))["reason"] == "the model asked to fail"
    # a second job on the same destination cancels the first (seed: SlicingCancelled)
    await client.call("server.plugins.slicing.slice", {"slicer": "catalogue",
                                                      "source": "slow.stl",
                                                      "destination": "same.gcode"})
    await client.call("server.plugins.slicing.slice", {"slicer": "catalogue",
                                                      "source": "cube.stl",
                                                      "destination": "same.gcode"})
    cancelled = await log.wait_event("SlicingCancelled", start)
    assert cancelled["stl"] == "slow.stl" and cancelled["gcode"] == "same.gcode"
    await log.wait_event("SlicingDone", start, where=lambda p: p["gcode"] == "same.gcode")


async def _link_actions(log: EventRecorder, session: aiohttp.ClientSession,
                        running: RunningHost, client: RpcClient) -> None:
    start = len(log.events)
    await client.call("printer.restart")
    for name in ("Disconnecting", "Disconnected", "Connecting", "Connected"):
        await log.wait_event(name, start)
    await log.wait_event("PrinterStateChanged", start,
                         where=lambda p: p["state_id"] == "OPERATIONAL")

    # a print that fails: M112 (last: it ends the link) while it runs
    start = len(log.events)
    await _start_print(session, running, SPHERE)
    await log.wait_event("PrintStarted", start)
    await client.call("printer.emergency_stop")
    await log.wait_event("EStop", start)
    failed = await log.wait_event("PrintFailed", start)
    assert failed["reason"] == "klippy_shutdown" and failed["path"] == SPHERE
    assert (await log.wait_event("Error", start))["error"]
    await log.wait_event("Disconnected", start)


#: Moonraker notifications the same actions must have sent (docs/events.md)
EXPECTED_NOTIFICATIONS = {
    ("notify_filelist_changed", "create_file"), ("notify_filelist_changed", "create_dir"),
    ("notify_filelist_changed", "move_dir"), ("notify_filelist_changed", "delete_dir"),
    ("notify_history_changed", "added"), ("notify_history_changed", "finished"),
    ("notify_klippy_ready", None), ("notify_klippy_shutdown", None),
    ("notify_klippy_disconnected", None),  # printer.restart ends a ready link
}
#: history statuses of the finished jobs: PrintDone, PrintCancelled, PrintFailed (M112)
EXPECTED_HISTORY = {"completed", "cancelled", "klippy_shutdown"}


async def _moonraker_notifications(client: RpcClient) -> None:
    """The websocket client got the notifications that go with the events."""
    seen: set[tuple[str, str | None]] = set()
    finished: set[str] = set()
    while not (EXPECTED_NOTIFICATIONS <= seen and EXPECTED_HISTORY <= finished):
        note = await asyncio.wait_for(client.notifications.get(), 10)
        params = note.get("params") or [{}]
        first = params[0] if isinstance(params[0], dict) else {}
        seen.add((note["method"], first.get("action")))
        if note["method"] == "notify_history_changed" and first.get("action") == "finished":
            finished.add(first["job"]["status"])


def _check_catalogue(events: list[tuple[str, dict[str, Any]]]) -> None:
    fired: dict[str, list[dict[str, Any]]] = {}
    for event, payload in events:
        fired.setdefault(event, []).append(payload)
    missing = sorted(set(CATALOGUE) - set(fired))
    assert not missing, f"never fired: {missing}"
    for event, keys in CATALOGUE.items():
        for payload in fired[event]:
            assert keys <= set(payload), (event, sorted(keys - set(payload)))
    for event in ("PrintPaused", "PrintCancelled"):
        for payload in fired[event]:
            assert POSITION_KEYS <= set(payload["position"]), event
    assert not set(NOT_FIRED) & set(fired)


async def test_every_catalogued_event_fires_with_its_payload_keys(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "plugins").mkdir(parents=True)
    shutil.copy(HERE / "catalogue_plugin.py", data / "plugins" / "catalogue_plugin.py")
    async with running_host(data, CONFIG) as running:
        log = EventRecorder(running)
        await log.wait_event("PrinterStateChanged",
                             where=lambda p: p["state_id"] == "OPERATIONAL")
        assert await log.wait_event("Connected") == {"port": "VIRTUAL", "baudrate": 250000}
        async with aiohttp.ClientSession() as session:
            async with RpcClient.connect(running.ws_url, session) as client:
                opened = await log.wait_event("ClientOpened")
                assert opened == {"remoteAddress": "127.0.0.1"}
                await _files_actions(log, session, running, client)
                await _gcode_actions(log, client)
                await _job_actions(log, session, running, client)
                await _plugin_actions(log, running, client)
                await _link_actions(log, session, running, client)
                await _moonraker_notifications(client)
            assert await log.wait_event("ClientClosed") == {"remoteAddress": "127.0.0.1"}
        bus = running.host.events
    # Shutdown fires while the host stops (its subscribers may be gone): the history keeps it
    if not log.named("Shutdown"):
        log.events.extend((e, p) for _t, e, p in bus.history if e == "Shutdown")
    _check_catalogue(log.events)


async def test_removing_the_selected_file_deselects_it(tmp_path: Path) -> None:
    # OctoPrint's file API deselects a deleted selected file (FileDeselected); moonlite does
    # it for any removal of the selected file (API, move, on disk), never for the printed one
    data = tmp_path / "data"
    (data / "gcodes").mkdir(parents=True)
    for name in ("a.gcode", "b.gcode"):
        (data / "gcodes" / name).write_text("G28\nG1 Z1 F300\n")
    async with running_host(data, CONFIG) as running, \
            RpcClient.connect(running.ws_url) as client:
        log = EventRecorder(running)
        await log.wait_event("PrinterStateChanged",
                             where=lambda p: p["state_id"] == "OPERATIONAL")
        printer: Any = running.host.get_component("printer")
        await printer.select_file("a.gcode")
        await log.wait_event("FileSelected", where=_path_is("a.gcode"))
        start = len(log.events)
        await client.call("server.files.delete_file", {"path": "gcodes/b.gcode"})
        await client.call("server.files.delete_file", {"path": "gcodes/a.gcode"})
        await log.wait_event("FileDeselected", start)
        # after the FileRemoved of the selected file, not the other one
        assert log.index("FileRemoved", start, _path_is("a.gcode")) < log.index(
            "FileDeselected", start)
        assert log.index("FileRemoved", start, _path_is("b.gcode")) < log.index(
            "FileRemoved", start, _path_is("a.gcode"))
        assert len(log.named("FileDeselected")) == 1
        assert printer.jobs.selected is None
