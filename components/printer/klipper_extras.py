"""More Klipper commands that users' macros call: G-code state, waits, retraction, bed mesh."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .klipper_commands import GcodeCall, KlipperCommands


@dataclasses.dataclass
class SavedState:
    """What SAVE_GCODE_STATE keeps (as Klipper's gcode_move saves it)."""

    absolute_coordinates: bool
    absolute_extrude: bool
    speed_factor: float
    extrude_factor: float
    feedrate: float
    gcode_position: list[float]


def _fmt(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") or "0"


def register_extras(kc: KlipperCommands) -> None:
    """Add the commands of this module to `kc`."""
    from .klipper_commands import GcodeError

    objects = kc.objects
    moves = objects.moves
    saved: dict[str, SavedState] = {}

    async def save_state(call: GcodeCall) -> None:
        saved[call.get("NAME", "default").upper()] = SavedState(
            moves.absolute_coordinates, moves.absolute_extrude, moves.speed_factor,
            moves.extrude_factor, moves.feedrate, list(moves.gcode_position))

    async def restore_state(call: GcodeCall) -> None:
        name = call.get("NAME", "default").upper()
        state = saved.get(name)
        if state is None:
            raise GcodeError(f"Unknown g-code state: {name}")
        lines = [f"M220 S{_fmt(state.speed_factor * 100)}",
                 f"M221 S{_fmt(state.extrude_factor * 100)}"]
        if call.get_int("MOVE", 0):
            speed = call.get_float("MOVE_SPEED", state.feedrate / 60.0, minval=0.0)
            x, y, z, _e = state.gcode_position
            lines += ["G90", f"G0 X{_fmt(x)} Y{_fmt(y)} Z{_fmt(z)} F{_fmt(speed * 60)}"]
        lines.append("G90" if state.absolute_coordinates else "G91")
        lines.append("M82" if state.absolute_extrude else "M83")
        lines.append(f"G92 E{_fmt(state.gcode_position[3])}")
        lines.append(f"G1 F{_fmt(state.feedrate)}")
        for line in lines:
            await kc.send_native(line)

    async def temperature_wait(call: GcodeCall) -> None:
        sensor = call.get("SENSOR").strip()
        low = call.get_float("MINIMUM", float("-inf"))
        high = call.get_float("MAXIMUM", float("inf"))
        if low == float("-inf") and high == float("inf"):
            raise GcodeError("Error on 'TEMPERATURE_WAIT': missing MINIMUM or MAXIMUM.")
        obj = objects.status.objects.get(sensor) or objects.status.objects.get(
            f"temperature_sensor {sensor}") or objects.status.objects.get(
            f"heater_generic {sensor}")
        if obj is None or "temperature" not in obj:
            raise GcodeError(f"Unknown sensor '{sensor}'")
        while not low <= float(obj["temperature"]) <= high:
            if not kc.printer.link.is_operational:
                raise GcodeError("Printer is not ready")
            # reports come every few seconds; look at the link again if they stop
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(objects.heaters.reported.wait(), 5.0)

    async def idle_timeout(call: GcodeCall) -> None:
        objects.job.idle_timeout = call.get_float("TIMEOUT", minval=1.0)

    async def kinematic_position(call: GcodeCall) -> None:
        axes = {a: call.get_float(a) for a in "XYZ" if a in call.params}
        if axes:
            await kc.send_native("G92 " + " ".join(f"{a}{_fmt(v)}" for a, v in axes.items()))
        moves.homed.update(axes or "XYZ")
        objects.refresh()

    async def set_retraction(call: GcodeCall) -> None:
        retract = [f"S{_fmt(call.get_float('RETRACT_LENGTH'))}"] \
            if "RETRACT_LENGTH" in call.params else []
        if "RETRACT_SPEED" in call.params:
            retract.append(f"F{_fmt(call.get_float('RETRACT_SPEED') * 60)}")
        recover = [f"S{_fmt(call.get_float('UNRETRACT_EXTRA_LENGTH'))}"] \
            if "UNRETRACT_EXTRA_LENGTH" in call.params else []
        if "UNRETRACT_SPEED" in call.params:
            recover.append(f"F{_fmt(call.get_float('UNRETRACT_SPEED') * 60)}")
        if retract:
            await kc.send_native("M207 " + " ".join(retract))
        if recover:
            await kc.send_native("M208 " + " ".join(recover))

    async def mesh_calibrate(call: GcodeCall) -> None:
        await kc.send_native("G29")

    async def mesh_clear(call: GcodeCall) -> None:
        await kc.send_native("M420 S0")

    async def mesh_profile(call: GcodeCall) -> None:
        if "LOAD" in call.params:
            await kc.send_native("M420 S1")
        elif "SAVE" in call.params:
            await kc.send_native("M500")
        else:
            raise GcodeError("BED_MESH_PROFILE: only LOAD and SAVE are available on Marlin")

    table: dict[str, tuple[Any, str]] = {
        "SAVE_GCODE_STATE": (save_state, "Save G-Code coordinate state"),
        "RESTORE_GCODE_STATE": (restore_state, "Restore a previously saved G-Code state"),
        "TEMPERATURE_WAIT": (temperature_wait, "Wait for a temperature on a sensor"),
        "SET_IDLE_TIMEOUT": (idle_timeout, "Set the idle timeout in seconds"),
        "SET_KINEMATIC_POSITION": (kinematic_position, "Force a low-level kinematic position"),
        "SET_RETRACTION": (set_retraction, "Set firmware retraction parameters (M207/M208)"),
        "BED_MESH_CALIBRATE": (mesh_calibrate, "Perform Mesh Bed Leveling (G29)"),
        "BED_MESH_CLEAR": (mesh_clear, "Clear the Mesh so no z-adjustment is made (M420 S0)"),
        "BED_MESH_PROFILE": (mesh_profile, "Bed Mesh Persistent Storage management (M420 S1, "
                                           "M500)"),
    }
    for name, (handler, text) in table.items():
        kc.register(name, handler, text)

