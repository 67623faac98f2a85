"""Mainsail's and Fluidd's start-up sequences (reference §4) replayed over a real websocket."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
from moonraker_helpers import PrinterHost, printer_host

from moonlite.testing import RpcCallError, RpcClient

#: component -> the call a frontend makes for it when listed in server.info.components
COMPONENT_CALLS = {
    "history": [("server.history.list", {"start": 0, "limit": 50}), ("server.history.totals",
                                                                     {})],
    "webcam": [("server.webcams.list", {})],
    "announcements": [("server.announcements.list", {})],
    "job_queue": [("server.job_queue.status", {})],
}
#: the keys each answer has (reference §11)
SHAPES: dict[str, set[str]] = {
    "server.info": {"klippy_connected", "klippy_state", "components", "failed_components",
                    "registered_directories", "warnings", "websocket_count",
                    "moonraker_version", "missing_klippy_requirements", "api_version",
                    "api_version_string"},
    "server.config": {"config", "orig", "files"},
    "machine.system_info": {"system_info"},
    "machine.proc_stats": {"moonraker_stats", "throttled_state", "cpu_temp", "network",
                           "system_cpu_usage", "system_memory", "websocket_connections"},
    "server.database.list": {"namespaces", "backups"},
    "server.history.list": {"count", "jobs"},
    "server.history.totals": {"job_totals", "auxiliary_totals"},
    "server.webcams.list": {"webcams"},
    "server.announcements.list": {"entries", "feeds"},
    "server.job_queue.status": {"queued_jobs", "queue_state"},
    "server.gcode_store": {"gcode_store"},
    "access.users.list": {"users"},
    "printer.objects.list": {"objects"},
    "printer.objects.query": {"eventtime", "status"},
    "printer.objects.subscribe": {"eventtime", "status"},
}
MAINSAIL_CONFIG_SECTIONS = ("virtual_sdcard", "pause_resume", "display_status",
                            "gcode_macro PAUSE", "gcode_macro RESUME",
                            "gcode_macro CANCEL_PRINT")


async def call(client: RpcClient, method: str, params: dict[str, Any] | None = None) -> Any:
    """Call `method` and check the answer's documented shape."""
    result = await client.call(method, params or {})
    if method in SHAPES:
        assert isinstance(result, dict), (method, result)
        missing = SHAPES[method] - set(result)
        assert not missing, (method, missing)
    return result


def version_tuple(text: str) -> tuple[int, ...]:
    """`v0.12.0-300-g1a2b3c4` -> (0, 12, 0, 300), as the frontends compare versions."""
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)(?:-(\d+))?", text)
    assert match is not None, text
    return tuple(int(g or 0) for g in match.groups())


def check_printer_info(info: dict[str, Any]) -> None:
    """Every documented printer.info field, a state, a version the frontends accept."""
    for key in ("state", "state_message", "hostname", "software_version", "cpu_info",
                "klipper_path", "python_path", "process_id", "user_id", "group_id",
                "log_file", "config_file", "app"):
        assert key in info, key
    assert info["state"] == "ready" and info["state_message"] == "Printer is ready"
    assert version_tuple(info["software_version"]) >= (0, 11, 0, 257)
    assert info["app"] == "Klipper"


def check_subscribed_status(status: dict[str, Any], names: list[str]) -> None:
    """The objects the frontends read, with the fields of the reference (§6.1)."""
    assert set(names) <= set(status)
    assert set(status["webhooks"]) == {"state", "state_message"}
    assert set(status["print_stats"]) >= {"filename", "total_duration", "print_duration",
                                          "filament_used", "state", "message", "info"}
    assert status["print_stats"]["state"] == "standby"
    assert set(status["print_stats"]["info"]) == {"total_layer", "current_layer"}
    assert set(status["virtual_sdcard"]) >= {"file_path", "progress", "is_active",
                                             "file_position", "file_size"}
    assert set(status["toolhead"]) >= {
        "homed_axes", "axis_minimum", "axis_maximum", "print_time", "stalls",
        "estimated_print_time", "extruder", "position", "max_velocity", "max_accel",
        "minimum_cruise_ratio", "square_corner_velocity"}
    # the virtual printer's volume (220 x 220 x 250) and M503's limits (M203 X500, M204 P)
    assert status["toolhead"]["axis_maximum"] == [220.0, 220.0, 250.0, 0.0]
    # M503 (asked by printer.info) was in before the subscription: 500 mm/s, not the
    # profile's 6000 mm/min
    assert status["toolhead"]["max_velocity"] == 500.0
    assert status["configfile"]["settings"]["printer"]["max_velocity"] == 500.0
    assert set(status["gcode_move"]) >= {"speed_factor", "speed", "extrude_factor",
                                         "absolute_coordinates", "absolute_extrude",
                                         "homing_origin", "position", "gcode_position"}
    assert set(status["extruder"]) >= {"temperature", "target", "power", "can_extrude",
                                       "pressure_advance", "smooth_time"}
    assert set(status["heater_bed"]) >= {"temperature", "target", "power"}
    assert status["heaters"]["available_heaters"] == ["extruder", "heater_bed"]
    assert status["heaters"]["available_sensors"] == ["extruder", "heater_bed"]
    assert set(status["idle_timeout"]) == {"state", "printing_time"}
    assert status["pause_resume"] == {"is_paused": False}
    assert set(status["display_status"]) == {"message", "progress"}
    assert set(status["fan"]) >= {"speed"}
    assert set(status["system_stats"]) == {"sysload", "cputime", "memavail"}
    assert set(status["exclude_object"]) == {"objects", "excluded_objects", "current_object"}
    assert set(status["motion_report"]) >= {"live_position", "live_velocity",
                                            "live_extruder_velocity"}
    assert status["mcu"]["mcu_version"].startswith("Marlin 2.1")
    assert status["stepper_enable"]["steppers"] == {
        "stepper_x": False, "stepper_y": False, "stepper_z": False, "extruder": False}
    # the first answer carries the whole configfile (later diffs leave it out)
    assert "virtual_sdcard" in status["configfile"]["config"]


async def check_configfile(client: RpcClient) -> None:
    """What Mainsail warns about and what both frontends read from configfile."""
    reply = await client.call("printer.objects.query", {"objects": {"configfile": None}})
    configfile = reply["status"]["configfile"]
    config, settings = configfile["config"], configfile["settings"]
    for section in MAINSAIL_CONFIG_SECTIONS:
        assert section in config, section
    assert "gcode_macro cancel_print" in settings
    assert Path(config["virtual_sdcard"]["path"]).name == "gcodes"
    assert settings["printer"]["kinematics"] == "cartesian"
    assert settings["stepper_x"]["position_max"] == 220.0
    assert settings["stepper_y"]["position_min"] == 0.0
    extruder = settings["extruder"]
    assert extruder["nozzle_diameter"] > 0 and extruder["filament_diameter"] == 1.75
    assert extruder["min_extrude_temp"] == 170.0
    assert all(isinstance(v, str) for section in config.values() for v in section.values())


async def get_directories(ph: PrinterHost, info: dict[str, Any]) -> None:
    for root in info["registered_directories"]:
        listing = await call(ph.client, "server.files.get_directory",
                                       {"path": root, "extended": True})
        assert {"dirs", "files", "disk_usage", "root_info"} <= set(listing)


async def component_calls(client: RpcClient, components: list[str]) -> None:
    for component, calls in COMPONENT_CALLS.items():
        if component in components:
            for method, params in calls:
                await call(client, method, params)


async def test_mainsail_startup_sequence(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as ph:
        client = ph.client
        ident = await call(client, "server.connection.identify", {
            "client_name": "mainsail", "version": "2.18.0", "type": "web",
            "url": "http://localhost"})
        assert isinstance(ident["connection_id"], int)
        info = await call(client, "server.info")
        assert info["klippy_connected"] is True and info["klippy_state"] == "ready"
        await call(client, "server.config")
        await call(client, "machine.system_info")
        await call(client, "machine.proc_stats")
        databases = await call(client, "server.database.list", {"root": "config"})
        assert "mainsail" not in databases["namespaces"]
        async with aiohttp.ClientSession() as session, session.get(
                f"{ph.running.url}/server/files/config/.theme/default.json") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["code"] == 404
        await component_calls(client, info["components"])
        await get_directories(ph, info)
        info = await call(client, "server.info")
        assert info["klippy_state"] == "ready"
        commands = await call(client, "printer.objects.query",
                                     {"objects": {"gcode": ["commands"]}})
        gcode_commands = commands["status"]["gcode"]["commands"]
        for name in ("PAUSE", "RESUME", "CANCEL_PRINT", "SET_HEATER_TEMPERATURE",
                     "EXCLUDE_OBJECT", "G28", "M104"):
            assert "help" in gcode_commands[name]
        check_printer_info(await call(client, "printer.info"))
        store = await call(client, "server.gcode_store")
        assert isinstance(store["gcode_store"], list)
        names = (await call(client, "printer.objects.list"))["objects"]
        assert "gcode_macro CANCEL_PRINT" in names
        subscribed = await call(client, "printer.objects.subscribe", {
            "objects": {name: None for name in names if not name.startswith("menu")}})
        assert isinstance(subscribed["eventtime"], float)
        check_subscribed_status(subscribed["status"], names)
        temps = await call(client, "server.temperature_store", {"include_monitors": True})
        assert isinstance(temps, dict)
        await check_configfile(client)


async def test_fluidd_startup_sequence(tmp_path: Path) -> None:
    async with printer_host(tmp_path / "data") as ph:
        client = ph.client
        await call(client, "server.connection.identify", {
            "client_name": "fluidd", "version": "1.37.0", "type": "web",
            "url": "http://localhost"})
        try:
            await call(client, "server.database.get_item", {"namespace": "fluidd"})
            raise AssertionError("the fluidd namespace should not exist yet")
        except RpcCallError as exc:
            assert exc.code == -32601
        for key in ("uiSettings", "macros", "sensors", "console", "charts", "webcams",
                    "layout"):
            posted = await call(client, "server.database.post_item",
                                       {"namespace": "fluidd", "key": key, "value": {}})
            assert posted["key"] == key
        info = await call(client, "server.info")
        await call(client, "server.config")
        await call(client, "machine.proc_stats")
        await call(client, "machine.system_info")
        config_files = await call(client, "server.files.list", {"root": "config"})
        assert isinstance(config_files, list)
        check_printer_info(await call(client, "printer.info"))
        names = (await call(client, "printer.objects.list"))["objects"]
        subscribed = await call(client, "printer.objects.subscribe", {
            "objects": {name: None for name in names if not name.startswith("menu")}})
        check_subscribed_status(subscribed["status"], names)
        # Fluidd's macro check is case-sensitive: the names are upper case as in Klipper
        assert {"gcode_macro PAUSE", "gcode_macro RESUME", "gcode_macro CANCEL_PRINT"} <= \
            set(subscribed["status"])
        if "authorization" in info["components"]:
            await call(client, "access.get_user")
            await call(client, "access.users.list")
        await component_calls(client, info["components"])
        await call(client, "server.gcode_store")
        help_texts = await call(client, "printer.gcode.help")
        assert help_texts["SET_GCODE_OFFSET"] and help_texts["TURN_OFF_HEATERS"]
        temps = await call(client, "server.temperature_store")
        assert isinstance(temps, dict)
