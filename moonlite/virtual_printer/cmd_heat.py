"""Temperature G-codes: M104/M109, M140/M190, M141/M191, M105, M155, fans, tool change."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from moonlite.virtual_printer.framing import Command
from moonlite.virtual_printer.handlers import handles
from moonlite.virtual_printer.heaters import Heater

if TYPE_CHECKING:
    from moonlite.virtual_printer.printer import VirtualPrinter

REPORT_EVERY = 1.0  # Marlin prints the heater states once a second while waiting


def _set(p: VirtualPrinter, heater: Heater | None, command: Command) -> bool:
    """Apply S (or R) as the new target; returns whether R (wait for cooling too) was used."""
    if heater is None:
        return False
    value = command.params.get("S")
    use_r = value is None and command.params.get("R") is not None
    if use_r:
        value = command.params.get("R")
    if value is not None:
        heater.set_target(time.monotonic(), p.options.time_scale, value)
    return use_r


async def wait_for(p: VirtualPrinter, heater: Heater, wait_cooling: bool) -> None:
    """Block like Marlin's wait_for_hotend/bed: temps with `W:` once a second, M108 aborts."""
    o = p.options
    scale = o.time_scale
    p.arm_wait()
    now = time.monotonic()
    heater.update(now, scale)
    target = heater.target
    if target <= 0 or (not wait_cooling and heater.actual > target):
        return
    residency_real = o.residency_time * scale
    residency_start: float | None = None
    next_report = now
    while True:
        now = time.monotonic()
        line = p.temperature_report()
        in_window = abs(heater.actual - target) <= o.temp_window
        if residency_start is None and in_window:
            residency_start = now
        if now >= next_report:
            if residency_start is None:
                left = "?"
            else:
                elapsed = (now - residency_start) / scale if scale > 0 else o.residency_time
                left = str(max(0, int(o.residency_time - elapsed)))
            p.emit(f"{line} W:{left}")
            next_report = now + REPORT_EVERY * o.interval_scale
        if residency_start is not None:
            remaining = residency_start + residency_real - now
            if remaining <= 0:
                return
        else:
            # aim half a window inside so the next look is surely in it
            level = target - o.temp_window / 2 if heater.actual < target else target
            if heater.actual > target:
                level = target + o.temp_window / 2
            remaining = heater.seconds_to(level) * scale
        timeout = min(next_report - now, remaining)
        if math.isinf(timeout):
            timeout = REPORT_EVERY * o.interval_scale
        if await p.wait_cancelled(timeout):
            return


async def _set_and_wait(p: VirtualPrinter, heater: Heater | None, command: Command) -> None:
    """Apply the new target of `heater` (when it exists) and wait for it (M190/M191)."""
    if heater is not None:
        await wait_for(p, heater, _set(p, heater, command))


@handles("M104")
async def set_hotend(p: VirtualPrinter, command: Command) -> None:
    """Set a hotend target (T<n>, default the active tool)."""
    _set(p, p.tool_heater(command.integer("T", p.active_tool)), command)


@handles("M109")
async def wait_hotend(p: VirtualPrinter, command: Command) -> None:
    """Set a hotend target and wait (S: only when heating; R: heating or cooling)."""
    heater = p.tool_heater(command.integer("T", p.active_tool))
    if heater is None:
        return
    wait_cooling = _set(p, heater, command)
    p.set_busy("processing")
    await wait_for(p, heater, wait_cooling)


@handles("M140")
async def set_bed(p: VirtualPrinter, command: Command) -> None:
    """Set the bed target."""
    _set(p, p.bed, command)


@handles("M190")
async def wait_bed(p: VirtualPrinter, command: Command) -> None:
    """Set the bed target and wait for it."""
    await _set_and_wait(p, p.bed, command)


@handles("M141")
async def set_chamber(p: VirtualPrinter, command: Command) -> None:
    """Set the chamber target."""
    _set(p, p.chamber, command)


@handles("M191")
async def wait_chamber(p: VirtualPrinter, command: Command) -> None:
    """Set the chamber target and wait for it."""
    await _set_and_wait(p, p.chamber, command)


@handles("M105")
async def report_temperatures(p: VirtualPrinter, command: Command) -> None:
    """`ok T:.. /.. B:.. /.. @:.. B@:..` on one line (no separate ok)."""
    p.emit("ok" + p.temperature_report())
    command.skip_ok = True


@handles("M155")
async def autoreport_temperatures(p: VirtualPrinter, command: Command) -> None:
    """Report temperatures every S seconds (0 = off)."""
    p.set_autoreport("temp", command.integer("S"))


@handles("M106")
async def fan_on(p: VirtualPrinter, command: Command) -> None:
    """Set fan P (default 0) to S (0..255, default 255)."""
    p.fans[command.integer("P")] = max(0, min(255, command.integer("S", 255)))


@handles("M107")
async def fan_off(p: VirtualPrinter, command: Command) -> None:
    """Switch fan P (default 0) off."""
    p.fans[command.integer("P")] = 0


@handles("T")
async def tool_change(p: VirtualPrinter, command: Command) -> None:
    """Select the active tool."""
    tool = int(command.code[1:])
    if tool >= len(p.hotends):
        p.emit(f"echo:T{tool} Invalid extruder")
        return
    await p.planner.synchronize()
    p.active_tool = tool
    p.emit(f"echo:Active Extruder: {tool}")
