"""A real print through the Moonraker API: the notify_status_update stream and print_stats.

Times: the virtual printer runs simulated time `time_scale` times faster than real time and
counts the simulated seconds of motion and dwell in `VirtualPrinter.print_time`. Klipper's
`print_duration` is the time spent printing, without pauses and without what came before the
first extrusion (heating), so `print_duration / time_scale` is the comparable figure. The file's
extrusion total is computed here from the file itself (net of retractions, as Klipper counts).
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

from moonraker_helpers import SHARED_GCODE, net_extrusion, printer_host, status_updates_until

HEXNUT = "hexnut_marlin2.gcode"


def _finished(diff: dict[str, Any]) -> bool:
    return diff.get("print_stats", {}).get("state") in ("complete", "error", "cancelled")


def _dedup(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if not out or out[-1] != value:
            out.append(value)
    return out


async def test_status_stream_of_a_print(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data", time_scale=0.02, files=(HEXNUT,)) as ph:
        client = ph.client
        names = (await client.call("printer.objects.list"))["objects"]
        subscribed = await client.call("printer.objects.subscribe",
                                       {"objects": dict.fromkeys(names)})
        state = copy.deepcopy(subscribed["status"])
        assert await client.call("printer.print.start", {"filename": HEXNUT}) == "ok"
        updates = await status_updates_until(client, _finished, timeout=60)

        states = [state["print_stats"]["state"]]
        progress: list[float] = []
        heating: list[float] = []
        homed = [state["toolhead"]["homed_axes"]]
        times = [eventtime for _diff, eventtime in updates]
        for diff, _eventtime in updates:
            for name, fields in diff.items():
                assert name in state, name
                for field, value in fields.items():
                    # only fields that changed since this client's last update are sent
                    assert state[name].get(field) != value, (name, field, value)
                    state[name][field] = value
                assert "config" not in fields and "settings" not in fields
            if "state" in diff.get("print_stats", {}):
                states.append(diff["print_stats"]["state"])
            if "progress" in diff.get("virtual_sdcard", {}):
                progress.append(diff["virtual_sdcard"]["progress"])
            if "homed_axes" in diff.get("toolhead", {}):
                homed.append(diff["toolhead"]["homed_axes"])
            extruder = state["extruder"]
            if extruder["target"] == 200.0 and "temperature" in diff.get("extruder", {}):
                heating.append(extruder["temperature"])

        assert _dedup(states) == ["standby", "printing", "complete"]
        assert progress == sorted(progress) and progress[-1] == 1.0 and len(progress) >= 3
        # the hotend heats toward its 200 °C target (M109 waits for the window)
        assert len(heating) >= 3 and heating[0] < heating[-1] and heating[-1] >= 195.0
        # at most four updates a second (Klippy's cadence)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 0.2
        final = state["print_stats"]
        assert final["filename"] == HEXNUT and final["filament_used"] > 0
        assert state["virtual_sdcard"]["is_active"] is False
        assert state["idle_timeout"]["state"] == "Ready"
        # G28 at the start homes, M84 at the end disables the motors (homing is lost)
        assert homed == ["", "xyz", ""]
        assert state["stepper_enable"]["steppers"]["stepper_x"] is False


async def test_whole_print_durations_and_filament(tmp_path: Path) -> None:
    # 58 simulated seconds of motion in 2.9 s: the printer, not the host, sets the pace even
    # on a busy machine (400 lines/s are needed); heating is fast, it is not compared anyway
    scale = 0.05
    extra = "[virtual_printer]\nheat_rate: 40\nbed_heat_rate: 20\n"
    async with printer_host(tmp_path / "data", time_scale=scale, files=(HEXNUT,),
                            extra=extra) as ph:
        client = ph.client
        subscribed = await client.call("printer.objects.subscribe",
                                       {"objects": {"print_stats": None}})
        assert subscribed["status"]["print_stats"]["state"] == "standby"
        await client.call("printer.print.start", {"filename": HEXNUT})
        updates = await status_updates_until(client, _finished, timeout=60)
        states = _dedup([d["print_stats"]["state"] for d, _t in updates
                         if "state" in d.get("print_stats", {})])
        assert ["standby", *states] == ["standby", "printing", "complete"]

        stats = (await client.call("printer.objects.query",
                                   {"objects": {"print_stats": None}}))["status"]["print_stats"]
        expected = net_extrusion(SHARED_GCODE / HEXNUT)
        assert abs(stats["filament_used"] - expected) <= 0.01 * expected
        simulated = ph.printer.virtual_printer.print_time
        assert simulated > 50  # the slicer says 1m 1s
        assert abs(stats["print_duration"] / scale - simulated) <= 0.05 * simulated
        # total_duration includes the heating before the first extrusion
        assert stats["total_duration"] > stats["print_duration"]


async def test_firmware_kill_ends_the_print_in_error(tmp_path: Path) -> None:
    # the board kills itself (thermal runaway) when it reads line N400, mid-print
    extra = "[virtual_printer]\nkill_at_line: 400\n"
    async with printer_host(tmp_path / "data", time_scale=0.0, files=(HEXNUT,),
                            extra=extra) as ph:
        client = ph.client
        await client.call("printer.objects.subscribe", {"objects": {"print_stats": None,
                                                                    "webhooks": None}})
        await client.call("printer.print.start", {"filename": HEXNUT})
        updates = await status_updates_until(client, _finished)
        last = updates[-1][0]
        assert last["print_stats"]["state"] == "error"
        assert "Thermal Runaway" in last["print_stats"]["message"]
        assert 0 < last["print_stats"]["filament_used"] < net_extrusion(SHARED_GCODE / HEXNUT)
        webhooks = last["webhooks"]
        assert webhooks["state"] == "shutdown"  # Klipper: the firmware halted itself
        assert "Thermal Runaway" in webhooks["state_message"]
        assert "FIRMWARE_RESTART" in webhooks["state_message"]


async def next_fan_speed(client: Any) -> float:
    while True:
        note = await client.next_notification("notify_status_update")
        if "fan" in note["params"][0]:
            speed: float = note["params"][0]["fan"]["speed"]
            return speed


async def test_a_value_back_where_it_was_is_not_sent_again(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as ph:
        client = ph.client
        status = ph.printer.status
        await client.call("printer.objects.subscribe", {"objects": {"fan": ["speed"]}})
        status.update("fan", {"speed": 0.3})
        status.flush()
        assert await next_fan_speed(client) == 0.3
        # 0.3 -> 0.6 -> 0.3 between two flushes: subscribers already have 0.3
        status.update("fan", {"speed": 0.6})
        status.update("fan", {"speed": 0.3})
        status.flush()
        status.update("fan", {"speed": 0.7})
        assert await next_fan_speed(client) == 0.7
