"""Reports and host interaction: M115, M503, M119, M110, M113, M117, M73, M118, M0/M1, M600."""

from __future__ import annotations

from typing import TYPE_CHECKING

from moonlite.virtual_printer.framing import Command
from moonlite.virtual_printer.handlers import handles

if TYPE_CHECKING:
    from moonlite.virtual_printer.printer import VirtualPrinter


def capabilities(p: VirtualPrinter) -> list[tuple[str, bool]]:
    """The `Cap:` lines of M115, in Marlin's order."""
    o = p.options
    sd = p.sd.root is not None
    caps = [
        ("SERIAL_XON_XOFF", False),
        ("BINARY_FILE_TRANSFER", False),
        ("EEPROM", True),
        ("VOLUMETRIC", True),
        ("AUTOREPORT_POS", True),
        ("AUTOREPORT_TEMP", True),
        ("PROGRESS", False),
        ("PRINT_JOB", True),
        ("AUTOLEVEL", False),
        ("RUNOUT", False),
        ("Z_PROBE", False),
        ("LEVELING_DATA", False),
        ("BUILD_PERCENT", True),
        ("SOFTWARE_POWER", False),
        ("TOGGLE_LIGHTS", False),
        ("CASE_LIGHT_BRIGHTNESS", False),
        ("EMERGENCY_PARSER", o.emergency_parser),
        ("HOST_ACTION_COMMANDS", True),
        ("PROMPT_SUPPORT", True),
        ("SDCARD", sd),
        ("REPEAT", False),
        ("SD_WRITE", sd),
        ("AUTOREPORT_SD_STATUS", sd),
        ("LONG_FILENAME", sd),
        ("LFN_WRITE", False),
        ("CUSTOM_FIRMWARE_UPLOAD", False),
        ("EXTENDED_M20", sd and o.extended_m20),
        ("THERMAL_PROTECTION", True),
        ("MOTION_MODES", False),
        ("ARCS", True),
        ("BABYSTEPPING", False),
        ("CHAMBER_TEMPERATURE", o.chamber),
        ("COOLER_TEMPERATURE", False),
        ("MEATPACK", False),
        ("CONFIG_EXPORT", False),
    ]
    if o.report_advanced_ok_cap:
        caps.append(("ADVANCED_OK", o.advanced_ok))
    return caps


@handles("M115")
async def firmware_info(p: VirtualPrinter, command: Command) -> None:
    """Firmware name line, one `Cap:` line per capability, the geometry line."""
    o = p.options
    p.emit(
        f"FIRMWARE_NAME:Marlin {o.firmware_version} (Jun 28 2024 12:00:00)"
        " SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0"
        f" MACHINE_TYPE:{o.machine_type} EXTRUDER_COUNT:{o.tools} UUID:{o.uuid}"
    )
    for name, enabled in capabilities(p):
        p.emit(f"Cap:{name}:{int(enabled)}")
    x, y, z = o.volume
    box = f"min:{{x:0.00,y:0.00,z:0.00}},max:{{x:{x:.2f},y:{y:.2f},z:{z:.2f}}}"
    p.emit(f"area:{{full:{{{box}}},work:{{{box}}}}}")


@handles("M503")
async def report_settings(p: VirtualPrinter, command: Command) -> None:
    """A plausible settings report (the lines hosts parse: M92/M203/M201/M204/M205)."""
    s = p.settings

    def line(code: str, keys: str) -> str:
        return f"echo:  {code} " + " ".join(f"{k}{s[code][k]:.2f}" for k in keys)

    p.emit("echo:; Linear Units:")
    p.emit("echo:  G21 ; (mm)")
    p.emit("echo:; Temperature Units:")
    p.emit("echo:  M149 C ; Units in Celsius")
    p.emit("echo:; Steps per unit:")
    p.emit(line("M92", "XYZE"))
    p.emit("echo:; Max feedrates (units/s):")
    p.emit(line("M203", "XYZE"))
    p.emit("echo:; Max Acceleration (units/s2):")
    p.emit(line("M201", "XYZE"))
    p.emit("echo:; Acceleration (units/s2) (P<print-accel> R<retract-accel> T<travel-accel>):")
    p.emit(line("M204", "PRT"))
    p.emit("echo:; Advanced (B<min_segment_time_us> S<min_feedrate> T<min_travel_feedrate> J<junc_dev>):")  # noqa: E501
    p.emit(line("M205", "BSTJ"))
    p.emit("echo:; Home offset:")
    p.emit("echo:  M206 X0.00 Y0.00 Z0.00")
    p.emit("echo:; Hotend PID:")
    p.emit("echo:  M301 P22.20 I1.08 D114.00")


@handles("M92", "M201", "M203", "M204", "M205")
async def store_setting(p: VirtualPrinter, command: Command) -> None:
    """Remember motion settings (reported by M503)."""
    stored = p.settings[command.code]
    for key, value in command.params.items():
        if key in stored and value is not None:
            stored[key] = value


@handles("M119")
async def endstops(p: VirtualPrinter, command: Command) -> None:
    """Endstop states: an axis at 0 in machine coordinates sits on its min endstop."""
    p.emit("Reporting endstop status")
    machine = p.motion.machine()
    for i, axis in enumerate("xyz"):
        state = "TRIGGERED" if machine[i] <= 0 else "open"
        p.emit(f"{axis}_min: {state}")


@handles("M110")
async def set_line_number(p: VirtualPrinter, command: Command) -> None:
    """Set the last line number (also applied when the line was received)."""
    if command.params.get("N") is not None:
        p.last_n = command.integer("N")


@handles("M113")
async def keepalive_interval(p: VirtualPrinter, command: Command) -> None:
    """Host keepalive interval in seconds (0 disables busy lines)."""
    if command.has("S"):
        p.keepalive.interval = float(command.integer("S"))
    else:
        p.emit(f"echo:M113 S{p.keepalive.interval:.0f}")


@handles("M117")
async def lcd_message(p: VirtualPrinter, command: Command) -> None:
    """Set the status message."""
    p.message = command.rest


@handles("M73")
async def progress(p: VirtualPrinter, command: Command) -> None:
    """Set the print progress (P percent)."""
    if command.has("P"):
        p.progress = command.num("P")


@handles("M118")
async def serial_echo(p: VirtualPrinter, command: Command) -> None:
    """Print text to the host (A1 prefixes `//`, E1 prefixes `echo:`)."""
    words = command.rest.split(" ")
    flags: dict[str, bool] = {}
    while words and len(words[0]) == 2 and words[0][0] in "AEP" and words[0][1].isdigit():
        flags[words[0][0]] = words[0][1] != "0"
        words.pop(0)
    text = " ".join(words)
    prefix = ("echo:" if flags.get("E") else "") + ("//" if flags.get("A") else "")
    p.emit(prefix + text)


async def _wait_for_user(p: VirtualPrinter, message: str, seconds: float | None) -> None:
    p.emit("//action:prompt_end")
    p.emit(f"//action:prompt_begin {message}")
    p.emit("//action:prompt_button Continue")
    p.emit("//action:prompt_show")
    p.set_busy("paused for user")
    timeout = float("inf") if seconds is None else seconds * p.options.time_scale
    await p.wait_cancelled(timeout)
    p.emit("//action:prompt_end")


@handles("M0", "M1")
async def user_stop(p: VirtualPrinter, command: Command) -> None:
    """Wait for the user (M108 or an M876 answer), or S seconds / P milliseconds."""
    await p.planner.synchronize()
    p.arm_wait()
    seconds: float | None = None
    if command.params.get("S") is not None:
        seconds = command.num("S")
    elif command.params.get("P") is not None:
        seconds = command.num("P") / 1000.0
    message = command.rest if command.rest and seconds is None else "Click to Resume..."
    await _wait_for_user(p, message, seconds)


@handles("M600")
async def filament_change(p: VirtualPrinter, command: Command) -> None:
    """Park and wait for the user to confirm a filament change."""
    await p.planner.synchronize()
    p.arm_wait()
    p.emit("//action:paused")
    await _wait_for_user(p, "Nozzle Parked", None)
    p.emit("//action:resumed")


@handles("M876")
async def prompt_response(p: VirtualPrinter, command: Command) -> None:
    """Answer a host prompt (acts here only without the emergency parser)."""
    if not p.options.emergency_parser:
        p.release_wait(command.integer("S"))
