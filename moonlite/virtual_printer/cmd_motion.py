"""Motion G-codes: G0-G4, G28, G90/G91/G92, M82/M83, M17/M18/M84, M220/M221, M400, M410."""

from __future__ import annotations

from typing import TYPE_CHECKING

from moonlite.virtual_printer.framing import Command
from moonlite.virtual_printer.handlers import handles
from moonlite.virtual_printer.motion import AXES, arc_length, move_seconds

if TYPE_CHECKING:
    from moonlite.virtual_printer.printer import VirtualPrinter


async def _plan(p: VirtualPrinter, end: list[float], seconds: float) -> None:
    p.print_time += seconds
    p.motion.position = end
    p.motion.steppers_on = True
    machine = p.motion.machine()
    await p.planner.add(seconds * p.options.time_scale, machine)


def _feed(p: VirtualPrinter, command: Command) -> float:
    if command.params.get("F"):
        p.motion.feedrate = command.num("F") / 60.0
    return p.motion.feedrate * p.motion.speed_factor / 100.0


@handles("G0", "G1")
async def linear_move(p: VirtualPrinter, command: Command) -> None:
    """Straight move at the current feedrate."""
    feed = _feed(p, command)
    start = p.motion.position
    end = p.motion.target(command.params)
    if end == start:
        return
    await _plan(p, end, move_seconds(start, end, feed, p.options.max_feedrate))


@handles("G2", "G3")
async def arc_move(p: VirtualPrinter, command: Command) -> None:
    """Arc in the XY plane (I/J center offset or R radius); timed by its length."""
    feed = _feed(p, command)
    start = p.motion.position
    end = p.motion.target(command.params)
    length = arc_length(start, end, command.params, clockwise=command.code == "G2")
    seconds = length / feed if feed > 0 else 0.0
    if not length:
        seconds = move_seconds(start, end, feed, p.options.max_feedrate)
    await _plan(p, end, seconds)


@handles("G4")
async def dwell(p: VirtualPrinter, command: Command) -> None:
    """Wait for moves to finish, then pause P milliseconds or S seconds."""
    await p.planner.synchronize()
    seconds = command.num("S") if command.has("S") else command.num("P") / 1000.0
    p.print_time += seconds
    await p.sleep_scaled(seconds)


@handles("G28")
async def home(p: VirtualPrinter, command: Command) -> None:
    """Home the given axes (all when none are named) at the homing feedrate."""
    await p.planner.synchronize()
    axes = [a for a in "XYZ" if command.has(a)] or list("XYZ")
    machine = list(p.motion.machine())
    seconds = 0.0
    for axis in axes:
        i = "XYZ".index(axis)
        seconds = max(seconds, abs(machine[i]) / p.options.homing_feedrate[i])
        p.motion.offset[i] = 0.0
        p.motion.position[i] = 0.0
        p.motion.homed.add(axis)
    await _plan(p, list(p.motion.position), seconds)
    await p.planner.synchronize()


@handles("G90")
async def absolute(p: VirtualPrinter, command: Command) -> None:
    """Absolute positioning (E follows unless M82/M83 is given later)."""
    p.motion.absolute = True
    p.motion.absolute_e = True


@handles("G91")
async def relative(p: VirtualPrinter, command: Command) -> None:
    """Relative positioning for every axis, E included."""
    p.motion.absolute = False
    p.motion.absolute_e = False


@handles("M82")
async def absolute_e(p: VirtualPrinter, command: Command) -> None:
    """Absolute extrusion."""
    p.motion.absolute_e = True


@handles("M83")
async def relative_e(p: VirtualPrinter, command: Command) -> None:
    """Relative extrusion."""
    p.motion.absolute_e = False


@handles("G92")
async def set_position(p: VirtualPrinter, command: Command) -> None:
    """Set the logical position of the named axes without moving."""
    for i, axis in enumerate(AXES):
        value = command.params.get(axis)
        if value is not None:
            p.motion.offset[i] += value - p.motion.position[i]
            p.motion.position[i] = value


@handles("M17")
async def steppers_on(p: VirtualPrinter, command: Command) -> None:
    """Enable the steppers."""
    p.motion.steppers_on = True


@handles("M18", "M84")
async def steppers_off(p: VirtualPrinter, command: Command) -> None:
    """Disable the steppers after moves finish (M84 S<n> only sets the idle timeout)."""
    if command.code == "M84" and command.has("S"):
        return
    await p.planner.synchronize()
    p.motion.steppers_on = False
    p.motion.homed.clear()


@handles("M220")
async def speed_factor(p: VirtualPrinter, command: Command) -> None:
    """Feedrate percentage (scales move times)."""
    if command.has("S"):
        p.motion.speed_factor = max(1.0, command.num("S", 100.0))
    else:
        p.emit(f"FR:{p.motion.speed_factor:.0f}%")


@handles("M221")
async def flow_factor(p: VirtualPrinter, command: Command) -> None:
    """Flow percentage of a tool."""
    tool = command.integer("T", p.active_tool)
    while len(p.motion.flow_factors) <= tool:
        p.motion.flow_factors.append(100.0)
    if command.has("S"):
        p.motion.flow_factors[tool] = command.num("S", 100.0)
    else:
        p.emit(f"echo:E{tool} Flow: {p.motion.flow_factors[tool]:.0f}%")


@handles("M400")
async def finish_moves(p: VirtualPrinter, command: Command) -> None:
    """Wait until every planned move has finished."""
    await p.planner.synchronize()


@handles("M114")
async def report_position(p: VirtualPrinter, command: Command) -> None:
    """Position line (commanded; `R` = where the machine actually is)."""
    p.emit(p.position_report(real=command.has("R")))


@handles("M154")
async def autoreport_position(p: VirtualPrinter, command: Command) -> None:
    """Report the position every S seconds (0 = off)."""
    p.set_autoreport("pos", command.integer("S"))
