"""Klipper-style commands and `[gcode_macro]`s run by printer.gcode.script (virtual printer)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from moonraker_helpers import PrinterHost, net_extrusion, printer_host, wait_ready

from moonlite.testing import RpcCallError, RpcClient

MACROS = """
[gcode_macro PRINT_HELLO]
description: Say hello
variable_count: 0
gcode:
  M117 Hello {params.NAME|default("world")} {printer.toolhead.axis_maximum.x}
  SET_GCODE_VARIABLE MACRO=PRINT_HELLO VARIABLE=count VALUE={count + 1}

[gcode_macro HEAT]
gcode:
  SET_HEATER_TEMPERATURE HEATER=extruder TARGET={params.T|default(40)|float}
  PRINT_HELLO NAME=heat

[gcode_macro LOOP]
gcode:
  LOOP

[gcode_macro PAUSE]
rename_existing: PAUSE_BASE
variable_calls: 0
gcode:
  SET_GCODE_VARIABLE MACRO=PAUSE VARIABLE=calls VALUE={printer["gcode_macro PAUSE"].calls + 1}
  PAUSE_BASE
"""


async def query(client: RpcClient, objects: dict[str, Any]) -> dict[str, Any]:
    reply = await client.call("printer.objects.query", {"objects": objects})
    status: dict[str, Any] = reply["status"]
    return status


async def script(client: RpcClient, text: str) -> Any:
    return await client.call("printer.gcode.script", {"script": text})


async def gcode_responses(client: RpcClient, count: int) -> list[str]:
    lines = []
    for _ in range(count):
        note = await client.next_notification("notify_gcode_response")
        lines.append(note["params"][0])
    return lines


async def test_macros_with_params_variables_and_renames(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data", extra=MACROS) as ph:
        client = ph.client
        assert await script(client, "PRINT_HELLO NAME=tester") == "ok"
        status = await query(client, {"display_status": ["message"],
                                      "gcode_macro PRINT_HELLO": None})
        assert status["display_status"]["message"] == "Hello tester 220.0"
        assert status["gcode_macro PRINT_HELLO"] == {"count": 1}
        # a macro calls a command and another macro
        await script(client, "HEAT T=45")
        status = await query(client, {"display_status": ["message"], "extruder": ["target"],
                                      "gcode_macro PRINT_HELLO": None})
        assert status["extruder"]["target"] == 45.0
        assert status["display_status"]["message"] == "Hello heat 220.0"
        assert status["gcode_macro PRINT_HELLO"] == {"count": 2}
        with pytest.raises(RpcCallError) as recursion:
            await script(client, "LOOP")
        assert recursion.value.code == 400 and "recursively" in recursion.value.message
        # PAUSE is the user's macro; the built-in stays callable as PAUSE_BASE
        await script(client, "PAUSE")
        status = await query(client, {"gcode_macro PAUSE": None})
        assert status["gcode_macro PAUSE"] == {"calls": 1}
        help_texts = await client.call("printer.gcode.help")
        assert help_texts["PRINT_HELLO"] == "Say hello"
        assert help_texts["PAUSE_BASE"] == "Pauses the current print"
        configfile = (await query(client, {"configfile": None}))["configfile"]
        assert configfile["config"]["gcode_macro PRINT_HELLO"]["description"] == "Say hello"
        assert configfile["settings"]["gcode_macro print_hello"]["variable_count"] == "0"
        for name in ("RESUME", "CANCEL_PRINT"):
            assert f"gcode_macro {name}" in configfile["config"]


async def test_errors_carry_the_message(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as ph:
        client = ph.client
        with pytest.raises(RpcCallError) as unknown:
            await script(client, "G28\nNOT_A_COMMAND X=1\nM117 never")
        assert unknown.value.code == 400
        assert unknown.value.message == 'Unknown command:"NOT_A_COMMAND"'
        status = await query(client, {"display_status": ["message"], "toolhead": None})
        assert status["display_status"]["message"] is None  # the script stopped there
        assert status["toolhead"]["homed_axes"] == "xyz"
        with pytest.raises(RpcCallError) as firmware:
            await script(client, "M9999")
        assert firmware.value.code == 400 and "M9999" in firmware.value.message
        with pytest.raises(RpcCallError) as bad:
            await script(client, "SET_FAN_SPEED FAN=fan SPEED=2")
        assert "SPEED" in bad.value.message
        store = (await client.call("server.gcode_store"))["gcode_store"]
        assert {"message": "M9999", "type": "command"} in [
            {k: e[k] for k in ("message", "type")} for e in store]
        assert any(e["type"] == "response" and e["message"].startswith("!! ")
                   and "M9999" in e["message"] for e in store)


async def test_heater_fan_and_offset_commands(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as ph:
        client = ph.client
        await script(client, "SET_HEATER_TEMPERATURE HEATER=heater_bed TARGET=55\n"
                             "SET_HEATER_TEMPERATURE HEATER=extruder TARGET=190\n"
                             "SET_FAN_SPEED FAN=fan SPEED=0.5")
        status = await query(client, {"heater_bed": ["target"], "extruder": ["target"],
                                      "fan": ["speed"]})
        assert status["heater_bed"]["target"] == 55.0 and status["extruder"]["target"] == 190
        assert status["fan"]["speed"] == pytest.approx(0.5, abs=0.01)
        await script(client, "TURN_OFF_HEATERS\nM107")
        status = await query(client, {"heater_bed": ["target"], "extruder": ["target"],
                                      "fan": ["speed"]})
        assert status["heater_bed"]["target"] == 0 and status["extruder"]["target"] == 0
        assert status["fan"]["speed"] == 0.0
        # SET_GCODE_OFFSET: later G-code Z lands 0.2 mm higher on the machine
        await script(client, "G28\nSET_GCODE_OFFSET Z=0.2\nG1 Z10 F600\nM400")
        status = await query(client, {"gcode_move": None})
        move = status["gcode_move"]
        assert move["homing_origin"][2] == pytest.approx(0.2)
        assert move["gcode_position"][2] == pytest.approx(10.0)
        vp = ph.printer.virtual_printer
        assert vp.motion.machine()[2] == pytest.approx(10.2)
        await script(client, "SET_GCODE_OFFSET Z_ADJUST=-0.1 MOVE=1\nM400")
        assert vp.motion.machine()[2] == pytest.approx(10.1)
        status = await query(client, {"gcode_move": None})
        assert status["gcode_move"]["gcode_position"][2] == pytest.approx(10.0)
        await script(client, "M73 P42")
        assert (await query(client, {"display_status": ["progress"]}))["display_status"] == {
            "progress": 0.42}
        await script(client, "M220 S150\nM221 S95\nG91")
        move = (await query(client, {"gcode_move": None}))["gcode_move"]
        assert (move["speed_factor"], move["extrude_factor"]) == (1.5, 0.95)
        assert move["absolute_coordinates"] is False and move["absolute_extrude"] is False


async def test_console_endstops_and_respond(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as ph:
        client = ph.client
        await script(client, "G28")
        assert await client.call("printer.query_endstops.status") == {
            "x": "TRIGGERED", "y": "TRIGGERED", "z": "TRIGGERED"}
        await script(client, "G1 X10 Y10 Z10 F3000\nM400")
        assert await client.call("printer.query_endstops.status") == {
            "x": "open", "y": "open", "z": "open"}
        await script(client, "RESPOND MSG=hello")
        assert await gcode_responses(client, 1) == ["echo: hello"]
        # host prompts reach the console in Klipper's form, which Mainsail turns into dialogs
        await script(client, "M118 A1 action:prompt_begin Filament runout")
        assert await gcode_responses(client, 1) == ["// action:prompt_begin Filament runout"]
        # an M114 asked for is shown; the periodic position/temperature reports are not
        await script(client, "M114")
        lines = await gcode_responses(client, 1)
        assert lines[0].startswith("X:10.00 Y:10.00 Z:10.00")


async def test_emergency_stop_and_firmware_restart(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as ph:
        client = ph.client
        assert await client.call("printer.emergency_stop") == "ok"
        await client.next_notification("notify_klippy_shutdown")
        info = await client.call("printer.info")
        assert info["state"] == "shutdown" and "M112" in info["state_message"]
        server = await client.call("server.info")
        assert server["klippy_state"] == "shutdown"
        with pytest.raises(RpcCallError) as refused:
            await script(client, "G28")
        assert refused.value.message == "Printer is not ready"
        assert await client.call("printer.firmware_restart") == "ok"
        await client.next_notification("notify_klippy_ready")
        await wait_ready(client)
        assert await script(client, "G28\nM220 S50") == "ok"
        await client.call("printer.firmware_restart")
        await client.next_notification("notify_klippy_ready")
        # the board restarted: nothing is homed, factors are back to 100 %
        status = await query(client, {"toolhead": ["homed_axes"], "gcode_move": None})
        assert status["toolhead"]["homed_axes"] == ""
        assert status["gcode_move"]["speed_factor"] == 1.0
        await client.call("printer.restart")
        await client.next_notification("notify_klippy_disconnected")
        await client.next_notification("notify_klippy_ready")


async def _printing_object(ph: PrinterHost) -> list[dict[str, Any]]:
    """The job's labelled objects, once the head is inside one of them."""
    reply = await ph.client.call("printer.objects.subscribe",
                                 {"objects": {"exclude_object": None}})
    state = reply["status"]["exclude_object"]
    while not state["objects"] or state["current_object"] is None:
        note = await ph.client.next_notification("notify_status_update")
        state.update(note["params"][0].get("exclude_object", {}))
    assert state["current_object"] == state["objects"][0]["name"]
    objects: list[dict[str, Any]] = state["objects"]
    return objects


async def test_exclude_object_during_a_print(tmp_path: Path) -> None:
    torus = "torus_marlin.gcode"
    fast_heating = "[virtual_printer]\nheat_rate: 40\nbed_heat_rate: 20\n"
    async with printer_host(tmp_path / "data", time_scale=0.05, files=(torus,),
                            extra=fast_heating) as ph:
        client = ph.client
        await client.call("printer.print.start", {"filename": torus})
        objects = await _printing_object(ph)
        # PrusaSlicer's labels give one object, centred on the bed
        assert [o["name"] for o in objects] == ["TORUS.STL_ID_0_COPY_0"]
        assert objects[0]["center"] == pytest.approx([100.0, 100.0], abs=0.1)
        name = objects[0]["name"]
        await script(client, f"EXCLUDE_OBJECT NAME={name.lower()}")
        status = await query(client, {"exclude_object": None})
        assert status["exclude_object"]["excluded_objects"] == [name]
        await script(client, "EXCLUDE_OBJECT RESET=1")
        status = await query(client, {"exclude_object": None})
        assert status["exclude_object"]["excluded_objects"] == []
        with pytest.raises(RpcCallError):
            await script(client, "EXCLUDE_OBJECT NAME=nothing_like_it")
        await script(client, "M486 P0")
        status = await query(client, {"exclude_object": None, "print_stats": None})
        assert status["exclude_object"]["excluded_objects"] == [name]
        # the only object is skipped: the rest of the 18 s print goes by without extruding
        used = status["print_stats"]["filament_used"]
        await client.call("printer.objects.subscribe", {"objects": {"print_stats": None}})
        async with asyncio.timeout(15):
            while status["print_stats"]["state"] != "complete":
                await client.next_notification("notify_status_update")
                status = await query(client, {"print_stats": None, "toolhead": None})
        total = net_extrusion(ph.gcodes / torus)
        assert status["print_stats"]["filament_used"] < used + 0.2 * total
        assert status["toolhead"]["position"][2] > 5  # the layers still went up
        final = await query(client, {"exclude_object": None})
        assert final["exclude_object"]["current_object"] is None


async def test_http_forms_of_the_printer_endpoints(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as ph, aiohttp.ClientSession() as session:
        base = ph.running.url
        async with session.get(f"{base}/printer/info") as resp:
            assert resp.status == 200
            assert (await resp.json())["result"]["state"] == "ready"
        async with session.post(f"{base}/printer/gcode/script",
                                json={"script": "G28 X\nM117 over http"}) as resp:
            assert (await resp.json()) == {"result": "ok"}
        async with session.post(f"{base}/printer/gcode/script?script=M9999") as resp:
            assert resp.status == 400
            assert "M9999" in (await resp.json())["error"]["message"]
        async with session.get(f"{base}/printer/objects/query?toolhead=homed_axes,position"
                               "&display_status") as resp:
            status = (await resp.json())["result"]["status"]
        assert status["toolhead"] == {"homed_axes": "x", "position": [0.0, 0.0, 0.0, 0.0]}
        assert status["display_status"]["message"] == "over http"
        async with session.get(f"{base}/printer/query_endstops/status") as resp:
            assert (await resp.json())["result"]["x"] == "TRIGGERED"


async def test_two_tools_and_a_heated_chamber(tmp_path: Path) -> None:
    extra = "[virtual_printer]\ntools: 2\nchamber: True\n"
    async with printer_host(tmp_path / "data", extra=extra) as ph:
        client = ph.client
        heaters = (await query(client, {"heaters": None}))["heaters"]
        assert heaters["available_heaters"] == ["extruder", "extruder1", "heater_bed",
                                                "heater_generic chamber"]
        await script(client, "SET_HEATER_TEMPERATURE HEATER=extruder1 TARGET=50\n"
                             "SET_HEATER_TEMPERATURE HEATER=chamber TARGET=35\n"
                             "ACTIVATE_EXTRUDER EXTRUDER=extruder1")
        status = await query(client, {"extruder1": ["target"], "extruder": ["target"],
                                      "heater_generic chamber": ["target"],
                                      "toolhead": ["extruder"]})
        assert status["extruder1"]["target"] == 50.0 and status["extruder"]["target"] == 0.0
        assert status["heater_generic chamber"]["target"] == 35.0
        assert status["toolhead"]["extruder"] == "extruder1"
        with pytest.raises(RpcCallError):
            await script(client, "SET_HEATER_TEMPERATURE HEATER=extruder2 TARGET=50")
        settings = (await query(client, {"configfile": ["settings"]}))["configfile"]["settings"]
        assert "extruder1" in settings and "heater_generic chamber" in settings
        # the firmware's reports reach every heater object: wait until both hotends reported
        reply = await client.call("printer.objects.subscribe", {"objects": {
            "extruder1": ["temperature"], "heater_generic chamber": ["temperature"]}})
        seen = reply["status"]
        while seen["extruder1"].get("temperature", 0) <= 21 or \
                seen["heater_generic chamber"].get("temperature", 0) <= 21:
            note = await client.next_notification("notify_status_update")
            for name, fields in note["params"][0].items():
                seen[name].update(fields)


async def test_gcode_state_waits_and_kinematics(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as ph:
        client = ph.client
        await script(client, "SET_KINEMATIC_POSITION X=0 Y=0 Z=0")
        assert (await query(client, {"toolhead": ["homed_axes"]}))["toolhead"] == {
            "homed_axes": "xyz"}
        await script(client, "G1 X20 Y30 Z5 F3000\nM83\nM220 S80\n"
                             "SAVE_GCODE_STATE NAME=park\n"
                             "G90\nM82\nM220 S100\nG1 X100 Y100 Z20\n"
                             "RESTORE_GCODE_STATE NAME=park MOVE=1\nM400")
        move = (await query(client, {"gcode_move": None}))["gcode_move"]
        assert move["gcode_position"][:3] == [20.0, 30.0, 5.0]
        assert move["absolute_extrude"] is False and move["speed_factor"] == 0.8
        assert ph.printer.virtual_printer.motion.machine()[:3] == (20.0, 30.0, 5.0)
        with pytest.raises(RpcCallError, match="Unknown g-code state"):
            await script(client, "RESTORE_GCODE_STATE NAME=nothing")
        # TEMPERATURE_WAIT returns once the sensor is in range (the target is left alone)
        await script(client, "M104 S60\nTEMPERATURE_WAIT SENSOR=extruder MINIMUM=45")
        extruder = (await query(client, {"extruder": ["temperature", "target"]}))["extruder"]
        assert extruder["temperature"] >= 45 and extruder["target"] == 60
        await script(client, "SET_IDLE_TIMEOUT TIMEOUT=900")
        assert ph.printer.objects.job.idle_timeout == 900
