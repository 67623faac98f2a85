"""The event bus: isolation, per-handler order, slow handlers; core events; fan-out to clients."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from moonlite.events import EventBus, Events
from moonlite.testing import RpcClient, running_host

TIMEOUT = 10.0


async def test_raising_handler_does_not_stop_the_others(
        caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    got: list[tuple[str, dict[str, Any]]] = []

    async def broken(event: str, payload: dict[str, Any]) -> None:
        raise ValueError("handler bug")

    def sync_broken(event: str, payload: dict[str, Any]) -> None:
        raise KeyError("sync handler bug")

    async def good(event: str, payload: dict[str, Any]) -> None:
        got.append((event, payload))

    bus.subscribe(Events.PRINT_DONE, broken, name="broken")
    bus.subscribe(Events.PRINT_DONE, sync_broken, name="sync_broken")
    bus.subscribe(Events.PRINT_DONE, good)
    bus.fire(Events.PRINT_DONE, {"name": "a.gcode"})
    bus.fire(Events.PRINT_DONE, {"name": "b.gcode"})
    await bus.drain(TIMEOUT)
    assert got == [("PrintDone", {"name": "a.gcode"}), ("PrintDone", {"name": "b.gcode"})]
    failures = [r for r in caplog.records if "event handler" in r.getMessage()]
    assert {r.getMessage().split()[2] for r in failures} == {"broken", "sync_broken"}
    assert len(failures) == 4
    await bus.close()


async def test_each_handler_sees_events_in_fired_order() -> None:
    bus = EventBus()
    seen: dict[str, list[int]] = {"a": [], "b": [], "all": []}
    rng = random.Random(4)

    def recorder(key: str) -> Any:
        async def handler(event: str, payload: dict[str, Any]) -> None:
            for _ in range(rng.randint(0, 3)):
                await asyncio.sleep(0)  # interleave the handlers differently per event
            seen[key].append(payload["n"])
        return handler

    bus.subscribe(Events.Z_CHANGE, recorder("a"))
    bus.subscribe(Events.Z_CHANGE, recorder("b"))
    bus.subscribe("*", recorder("all"))
    for n in range(300):
        bus.fire(Events.Z_CHANGE, {"n": n})
    await bus.drain(TIMEOUT)
    assert seen["a"] == seen["b"] == seen["all"] == list(range(300))
    await bus.close()


async def test_slow_handler_does_not_delay_others() -> None:
    bus = EventBus()
    release = asyncio.Event()
    fast_got = asyncio.Event()
    slow_started = asyncio.Event()

    async def slow(event: str, payload: dict[str, Any]) -> None:
        slow_started.set()
        await release.wait()

    async def fast(event: str, payload: dict[str, Any]) -> None:
        fast_got.set()

    bus.subscribe(Events.HOME, slow)
    bus.subscribe(Events.HOME, fast)
    bus.fire(Events.HOME)  # fire() is synchronous: it cannot block on a handler
    await asyncio.wait_for(slow_started.wait(), TIMEOUT)
    await asyncio.wait_for(fast_got.wait(), TIMEOUT)
    assert not release.is_set()
    release.set()
    await bus.drain(TIMEOUT)
    await bus.close()


async def test_unsubscribe_and_history() -> None:
    bus = EventBus()
    got: list[str] = []

    async def handler(event: str, payload: dict[str, Any]) -> None:
        got.append(event)

    unsubscribe = bus.subscribe(Events.ALERT, handler)
    bus.fire(Events.ALERT)
    await bus.drain(TIMEOUT)
    unsubscribe()
    bus.fire(Events.ALERT)
    await bus.drain(TIMEOUT)
    assert got == ["Alert"]
    assert [name for _, name, _ in bus.history] == ["Alert", "Alert"]
    await bus.close()


async def test_core_events_are_fired(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", "[webcam]\n") as running:
        host = running.host
        fired = [name for _, name, _ in host.events.history]
        assert fired.count("Startup") == 1
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

        async def record(event: str, payload: dict[str, Any]) -> None:
            queue.put_nowait((event, payload))

        for watched in (Events.CLIENT_OPENED, Events.CLIENT_CLOSED, Events.SETTINGS_UPDATED):
            host.events.subscribe(watched, record)
        async with RpcClient.connect(running.ws_url) as client:
            event, payload = await asyncio.wait_for(queue.get(), TIMEOUT)
            assert (event, payload) == ("ClientOpened", {"remoteAddress": "127.0.0.1"})
            await client.call("server.webcams.post_item", {"name": "cam"})
            event, _ = await asyncio.wait_for(queue.get(), TIMEOUT)
            assert event == "SettingsUpdated"
        event, payload = await asyncio.wait_for(queue.get(), TIMEOUT)
        assert (event, payload) == ("ClientClosed", {"remoteAddress": "127.0.0.1"})
    fired = [name for _, name, _ in host.events.history]
    assert fired.index("Startup") < fired.index("ClientOpened") < fired.index("ClientClosed") \
        < fired.index("Shutdown")


async def test_notification_fan_out_keeps_order_for_every_client(tmp_path: Path) -> None:
    """Events turned into notifications reach every client once, in order."""
    async with running_host(tmp_path / "data", "") as running, \
            aiohttp.ClientSession() as session:
        host = running.host

        async def to_clients(event: str, payload: dict[str, Any]) -> None:
            host.notify("notify_test_event", {"event": event, **payload})

        host.events.subscribe(Events.POSITION_UPDATE, to_clients)
        clients = []
        for _ in range(8):
            cm = RpcClient.connect(running.ws_url, session)
            clients.append((cm, await cm.__aenter__()))
        try:
            for n in range(500):
                host.events.fire(Events.POSITION_UPDATE, {"n": n})
            for _, client in clients:
                got = [(await client.next_notification("notify_test_event", TIMEOUT))
                       ["params"][0]["n"] for _ in range(500)]
                assert got == list(range(500))
                assert client.notifications.empty()
        finally:
            for cm, _ in clients:
                await cm.__aexit__(None, None, None)


async def test_proc_stat_and_webcam_notifications(tmp_path: Path) -> None:
    text = "[machine]\nproc_stats_interval: 0.05\n"
    async with running_host(tmp_path / "data", text) as running, \
            RpcClient.connect(running.ws_url) as client, RpcClient.connect(running.ws_url) \
            as other:
        note = await client.next_notification("notify_proc_stat_update", TIMEOUT)
        stats = note["params"][0]
        assert stats["moonraker_stats"]["mem_units"] == "kB"
        assert stats["moonraker_stats"]["memory"] > 1000
        assert stats["websocket_connections"] == 2
        assert set(stats) >= {"cpu_temp", "network", "system_cpu_usage", "system_memory"}
        history = (await client.call("machine.proc_stats"))["moonraker_stats"]
        assert len(history) >= 1 and history[-1]["time"] >= stats["moonraker_stats"]["time"]
        await client.call("server.webcams.post_item", {"name": "cam", "stream_url": "/s"})
        for each in (client, other):
            note = await each.next_notification("notify_webcams_changed", TIMEOUT)
            assert "cam" in [c["name"] for c in note["params"][0]["webcams"]]
