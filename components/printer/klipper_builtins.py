"""The Klipper commands frontends and macros send, each translated for Marlin and the job layer."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from moonlite.rpc import ApiError

from .exclude_object import LabelledObject, object_name
from .heater_objects import extruder_name
from .macros import MacroError

if TYPE_CHECKING:
    from .klipper_commands import GcodeCall, KlipperCommands


def _fmt(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


def register_builtins(kc: KlipperCommands) -> None:
    """Add every built-in command to `kc`."""
    from .klipper_commands import GcodeError

    printer: Any = kc.printer
    objects = kc.objects

    def jobs() -> Any:
        found = getattr(printer, "jobs", None)
        if found is None:
            raise GcodeError("Printing is not available")
        return found

    def tools() -> int:
        return int(objects.profile().get("extruder", {}).get("count", 1))

    async def pause(call: GcodeCall) -> None:
        job = jobs().active
        if job is None:
            kc.respond("// No print to pause")
        elif job.state == "paused":
            kc.respond("// Print already paused")
        else:
            await jobs().pause()

    async def resume(call: GcodeCall) -> None:
        job = jobs().active
        if job is None or job.state != "paused":
            kc.respond("// Print is not paused, resume aborted")
        else:
            await jobs().resume()

    async def cancel(call: GcodeCall) -> None:
        if jobs().active is None:
            kc.respond("// No print to cancel")
        else:
            await jobs().cancel()

    async def print_file(call: GcodeCall) -> None:
        filename = call.get("FILENAME").strip()
        try:
            # typed in the console (or run by a macro): PrintStarted's job_source says so
            await printer.print_file(filename, source="console")
        except ApiError as exc:
            raise GcodeError(exc.message) from None

    async def reset_file(call: GcodeCall) -> None:
        manager = jobs()
        if manager.active is not None:
            raise GcodeError("SDCARD_RESET_FILE cannot be run from the sdcard")
        # print_stats back to standby, as Klipper's reset does
        manager.job = None
        manager.unselect()
        objects.refresh()

    async def set_heater(call: GcodeCall) -> None:
        heater = call.get("HEATER").strip()
        target = call.get_float("TARGET", 0.0, minval=0.0)
        name = heater.lower()
        if name.startswith("extruder"):
            index = int(name[len("extruder"):] or 0)
            if index >= tools():
                raise GcodeError(f"Unknown heater '{heater}'")
            await kc.send_native(f"M104 T{index} S{_fmt(target)}")
        elif name == "heater_bed":
            await kc.send_native(f"M140 S{_fmt(target)}")
        elif name in ("chamber", "heater_generic chamber"):
            await kc.send_native(f"M141 S{_fmt(target)}")
        else:
            raise GcodeError(f"Unknown heater '{heater}'")

    async def heaters_off(call: GcodeCall) -> None:
        for index in range(tools()):
            await kc.send_native(f"M104 T{index} S0")
        profile = objects.profile()
        if profile.get("heatedBed", True):
            await kc.send_native("M140 S0")
        if profile.get("heatedChamber", False):
            await kc.send_native("M141 S0")

    async def set_fan(call: GcodeCall) -> None:
        fan = call.get("FAN").strip().lower()
        speed = call.get_float("SPEED", minval=0.0, maxval=1.0)
        index = 0 if fan in ("fan", "0") else int(fan[-1]) if fan[-1:].isdigit() else None
        if index is None:
            raise GcodeError(f"Unknown fan '{fan}'")
        await kc.send_native(f"M106 P{index} S{round(speed * 255)}")

    async def set_gcode_offset(call: GcodeCall) -> None:
        moves = objects.moves
        deltas: dict[str, float] = {}
        for index, axis in enumerate("XYZE"):
            if axis in call.params:
                deltas[axis] = call.get_float(axis) - moves.homing_origin[index]
            elif f"{axis}_ADJUST" in call.params:
                deltas[axis] = call.get_float(f"{axis}_ADJUST")
        if not deltas:
            return
        move = call.get_int("MOVE", 0)
        if move and set(deltas) == {"Z"} and printer.link.firmware.has("BABYSTEPPING"):
            # Marlin's babystep moves the nozzle and keeps the logical position: MOVE=1
            moves.homing_origin[2] += deltas["Z"]
            await kc.send_native(f"M290 Z{_fmt(deltas['Z'])}")
            return
        words = []
        for axis, delta in deltas.items():
            index = "XYZE".index(axis)
            moves.homing_origin[index] += delta
            if not move:
                # Marlin has no G-code offset: shift the logical position instead (G92)
                words.append(f"{axis}{_fmt(moves.gcode_position[index] - delta)}")
        if move:
            speed = call.get_float("MOVE_SPEED", 0.0) or objects.limits.max_velocity
            relative = " ".join(f"{a}{_fmt(d)}" for a, d in deltas.items() if a != "E")
            restore = "G90" if moves.absolute_coordinates else "G91"
            for line in ("G91", f"G0 {relative} F{_fmt(speed * 60)}", restore):
                await kc.send_native(line)
            words = [f"{axis}{_fmt(moves.gcode_position['XYZE'.index(axis)] - delta)}"
                     for axis, delta in deltas.items()]
        await kc.send_native("G92 " + " ".join(words))

    async def velocity_limit(call: GcodeCall) -> None:
        limits = objects.limits
        if "VELOCITY" in call.params:
            velocity = call.get_float("VELOCITY", minval=0.0)
            await kc.send_native(f"M203 X{_fmt(velocity)} Y{_fmt(velocity)}")
            limits.max_velocity = velocity
        if "ACCEL" in call.params:
            accel = call.get_float("ACCEL", minval=0.0)
            await kc.send_native(f"M204 P{_fmt(accel)} T{_fmt(accel)}")
            limits.max_accel = accel
        if "SQUARE_CORNER_VELOCITY" in call.params:
            scv = call.get_float("SQUARE_CORNER_VELOCITY", minval=0.0)
            junction = scv * scv * (math.sqrt(2) - 1) / max(limits.max_accel, 1.0)
            await kc.send_native(f"M205 J{junction:.4f}")
            limits.square_corner_velocity = scv
        objects.status.update("toolhead", limits.toolhead())
        kc.respond(f"// max_velocity: {_fmt(limits.max_velocity)}\n"
                   f"// max_accel: {_fmt(limits.max_accel)}\n"
                   f"// square_corner_velocity: {_fmt(limits.square_corner_velocity)}")

    async def pressure_advance(call: GcodeCall) -> None:
        advance = call.get_float("ADVANCE", minval=0.0)
        await kc.send_native(f"M900 K{_fmt(advance)}")
        objects.status.update(extruder_name(objects.moves.tool), {"pressure_advance": advance})

    async def firmware_restart(call: GcodeCall) -> None:
        await printer.restart_link(firmware=True)

    async def restart(call: GcodeCall) -> None:
        await printer.restart_link(firmware=False)

    async def exclude_object(call: GcodeCall) -> None:
        exclude = objects.exclude
        if call.get_int("RESET", 0):
            name = call.params.get("NAME")
            if name:
                exclude.include(name)
            else:
                exclude.excluded = []
                exclude.version += 1
        elif "NAME" in call.params:
            if not exclude.exclude(call.get("NAME")):
                raise GcodeError(f"Unknown object: {call.get('NAME')}")
        elif call.get_int("CURRENT", 0):
            current = objects.status.get("exclude_object", "current_object")
            if not current:
                raise GcodeError("There is no current object to cancel")
            exclude.exclude(current)
        else:
            kc.respond("// Known objects: " + ", ".join(exclude.names()))
            kc.respond("// Excluded objects: " + ", ".join(exclude.excluded))
        objects.refresh()

    async def exclude_define(call: GcodeCall) -> None:
        exclude = objects.exclude
        if call.get_int("RESET", 0):
            exclude.clear()
        elif "NAME" in call.params:
            name = object_name(call.get("NAME"))
            if name not in exclude.names():
                exclude.objects.append(LabelledObject(name))
                exclude.version += 1
        objects.refresh()

    async def nothing(call: GcodeCall) -> None:
        """EXCLUDE_OBJECT_START/END and CLEAR_PAUSE: nothing to do outside a file's stream."""

    async def m486(call: GcodeCall) -> None:
        objects.moves.process(f"M486 {call.rawparams}")
        objects.refresh()

    async def set_variable(call: GcodeCall) -> None:
        try:
            macro = objects.macros.set_variable(call.get("MACRO"), call.get("VARIABLE"),
                                                call.get("VALUE"))
        except MacroError as exc:
            raise GcodeError(str(exc)) from None
        objects.macro_variables_changed(macro.name)

    async def respond(call: GcodeCall) -> None:
        kind = call.params.get("TYPE", "echo").lower()
        message = call.params.get("MSG", "")
        prefix = call.params.get("PREFIX")
        if kind == "error":
            kc.respond(f"!! {message}")
        elif kind == "command":
            kc.respond(f"// {message}")
        else:
            kc.respond(f"{prefix or 'echo:'} {message}")

    async def stats_info(call: GcodeCall) -> None:
        info = dict(objects.job.layer_info)
        for key, field in (("TOTAL_LAYER", "total_layer"), ("CURRENT_LAYER", "current_layer")):
            if key in call.params:
                info[field] = call.get_int(key)
        objects.job.layer_info = info
        objects.refresh()

    async def get_position(call: GcodeCall) -> None:
        for line in await kc.send_native("M114"):
            kc.respond(f"// {line}")

    async def query_endstops(call: GcodeCall) -> None:
        state = await printer.query_endstops()
        kc.respond("// " + " ".join(f"{name}:{value}" for name, value in state.items()))

    async def activate_extruder(call: GcodeCall) -> None:
        name = call.get("EXTRUDER").strip().lower()
        index = int(name[len("extruder"):] or 0) if name.startswith("extruder") else -1
        if not 0 <= index < tools():
            raise GcodeError(f"'{name}' is not a valid extruder.")
        await kc.send_native(f"T{index}")

    async def save_config(call: GcodeCall) -> None:
        await kc.send_native("M500")

    async def status(call: GcodeCall) -> None:
        state, message = objects.status.get("webhooks", "state"), objects.status.get(
            "webhooks", "state_message")
        kc.respond(f"// Klipper state: {str(state).capitalize()}\n// {message}")

    async def help_command(call: GcodeCall) -> None:
        kc.respond("// Available extended commands:")
        for name, text in kc.help().items():
            kc.respond(f"// {name:<20} : {text}")

    def base(handler: Any, help_text: str) -> tuple[Any, str]:
        return handler, help_text

    table = {
        "PAUSE": base(pause, "Pauses the current print"),
        "RESUME": base(resume, "Resumes the print from a pause"),
        "CANCEL_PRINT": base(cancel, "Cancel the current print"),
        "CLEAR_PAUSE": base(nothing, "Clears the current paused state without "
                                            "resuming the print"),
        "SDCARD_PRINT_FILE": base(print_file, "Loads a file and starts the print"),
        "SDCARD_RESET_FILE": base(reset_file, "Clears a loaded file and resets the print"),
        "SET_HEATER_TEMPERATURE": base(set_heater, "Sets a heater temperature"),
        "TURN_OFF_HEATERS": base(heaters_off, "Turn off all heaters"),
        "SET_FAN_SPEED": base(set_fan, "Sets the speed of a fan"),
        "SET_GCODE_OFFSET": base(set_gcode_offset, "Set a virtual offset to g-code positions"),
        "SET_VELOCITY_LIMIT": base(velocity_limit, "Set printer velocity limits"),
        "SET_PRESSURE_ADVANCE": base(pressure_advance, "Set pressure advance parameters"),
        "FIRMWARE_RESTART": base(firmware_restart, "Restart firmware, host, and reload config"),
        "RESTART": base(restart, "Reload config file and restart host software"),
        "EXCLUDE_OBJECT": base(exclude_object, "Cancel moves inside a specified objects"),
        "EXCLUDE_OBJECT_DEFINE": base(exclude_define, "Provides a summary of an object"),
        "EXCLUDE_OBJECT_START": base(nothing, "Marks the beginning the current object"),
        "EXCLUDE_OBJECT_END": base(nothing, "Marks the end the current object"),
        "M486": base(m486, "Cancel objects (Marlin): P<index> cancels, U<index> restores"),
        "SET_GCODE_VARIABLE": base(set_variable, "Set the value of a G-Code macro variable"),
        "RESPOND": base(respond, "Echo the message prepended with a prefix"),
        "SET_PRINT_STATS_INFO": base(stats_info, "Pass slicer info like layer act and total "
                                                 "to klipper"),
        "GET_POSITION": base(get_position, "Return information on the current location of "
                                           "the toolhead"),
        "QUERY_ENDSTOPS": base(query_endstops, "Report on the status of each endstop"),
        "ACTIVATE_EXTRUDER": base(activate_extruder, "Change the active extruder"),
        "SAVE_CONFIG": base(save_config, "Save settings to the printer's EEPROM (M500)"),
        "STATUS": base(status, "Report the printer status"),
        "HELP": base(help_command, "Report the list of available extended G-Code commands"),
    }
    for name, (handler, text) in table.items():
        kc.register(name, handler, text)
