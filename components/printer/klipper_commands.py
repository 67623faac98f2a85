"""Klipper-style G-code scripts for a Marlin printer: extended commands, macros, plain G-code.

`KlipperCommands.run_script` is what `printer.gcode.script` runs. Each line is either a
registered command (a built-in of `klipper_builtins`, a `[gcode_macro]`, or a command a macro
renamed with `rename_existing`) or plain Marlin G-code, sent through the printer component and
answered when the firmware acknowledged it. The first error stops the script, as in Klipper.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from moonlite.rpc import ApiError

from .errors import CommandError, PrinterLinkError, QueueFull
from .macros import Macro, MacroError, template_value

if TYPE_CHECKING:
    from .objects import ObjectTracker

_NATIVE = re.compile(r"^([GMT])(\d+)(?:\.\d+)?$", re.IGNORECASE)
_PARAM = re.compile(r"(\S+?)=(\"[^\"]*\"|'[^']*'|\S*)")
#: commands that take the rest of the line as one text argument
_RAW_TEXT = ("M117", "M118", "M23", "M28", "M30", "M32", "ECHO")
#: macros may call macros this deep (a macro calling itself is refused at once)
MAX_DEPTH = 32
#: Marlin commands offered to consoles for completion (the `gcode` object), with their help
MARLIN_HELP = {
    "G0": "Linear move (travel)", "G1": "Linear move", "G2": "Arc move, clockwise",
    "G3": "Arc move, counter-clockwise", "G4": "Dwell (P ms or S s)", "G28": "Home axes",
    "G29": "Bed leveling", "G90": "Absolute positioning", "G91": "Relative positioning",
    "G92": "Set position", "M17": "Enable steppers", "M18": "Disable steppers",
    "M84": "Disable steppers", "M82": "Absolute extrusion", "M83": "Relative extrusion",
    "M104": "Set hotend temperature", "M105": "Report temperatures",
    "M106": "Set fan speed", "M107": "Fan off", "M109": "Set hotend temperature and wait",
    "M112": "Emergency stop", "M114": "Report position", "M115": "Firmware info",
    "M117": "Set LCD message", "M118": "Serial print", "M119": "Endstop states",
    "M140": "Set bed temperature", "M190": "Set bed temperature and wait",
    "M220": "Set feedrate percentage", "M221": "Set flow percentage",
    "M400": "Finish moves", "M500": "Save settings to EEPROM", "M503": "Report settings",
    "M600": "Filament change",
}
#: reports the firmware also sends by itself: echoed to the console only when asked for
REQUESTED_REPORTS = ("M105", "M114", "M27", "M119", "M503", "M115")


class GcodeError(Exception):
    """A script failed: the message is what Klipper would print after `!!`."""


@dataclasses.dataclass
class GcodeCall:
    """One parsed command line."""

    name: str
    params: dict[str, str]
    rawparams: str
    line: str
    #: the macros this call runs inside (outermost first, itself last)
    stack: tuple[str, ...] = ()

    def get(self, key: str, default: str | None = None) -> str:
        """A parameter (raises `GcodeError` when missing without default)."""
        value = self.params.get(key.upper(), default)
        if value is None:
            raise GcodeError(f"Error on '{self.line}': missing {key.upper()}")
        return value

    def get_float(self, key: str, default: float | None = None,
                  minval: float | None = None, maxval: float | None = None) -> float:
        """A number parameter, checked against the bounds."""
        raw = self.params.get(key.upper())
        if raw is None:
            if default is None:
                raise GcodeError(f"Error on '{self.line}': missing {key.upper()}")
            return default
        try:
            value = float(raw)
        except ValueError:
            raise GcodeError(f"Error on '{self.line}': unable to parse '{raw}'") from None
        if (minval is not None and value < minval) or (maxval is not None and value > maxval):
            raise GcodeError(f"Error on '{self.line}': {key.upper()} must be between "
                             f"{minval} and {maxval}")
        return value

    def get_int(self, key: str, default: int | None = None) -> int:
        """An integer parameter."""
        return int(self.get_float(key, None if default is None else float(default)))


Handler = Callable[[GcodeCall], Awaitable[None]]


def parse_line(line: str) -> GcodeCall | None:
    """A command line -> its name and parameters (None for a blank or comment line)."""
    text = line.strip()
    if not text or text[0] in ";#":
        return None
    head, _, rest = text.partition(" ")
    name = head.upper()
    if name in _RAW_TEXT or _NATIVE.match(name):
        # Marlin words: the comment goes, the words stay as they are
        rest = rest.partition(";")[0].strip() if name not in _RAW_TEXT else rest.strip()
        return GcodeCall(name, {}, rest, f"{head} {rest}".strip())
    rest = rest.partition(";")[0].strip()
    params = {key.upper(): value.strip("\"'") for key, value in _PARAM.findall(rest)}
    return GcodeCall(name, params, rest, text.partition(";")[0].strip())


def is_native(name: str) -> bool:
    """Whether `name` is a Marlin word (`G1`, `M104`, `T0`)."""
    return _NATIVE.match(name) is not None


class KlipperCommands:
    """The command table and the script runner of one printer."""

    def __init__(self, printer: Any, objects: ObjectTracker,
                 respond: Callable[[str], None]) -> None:
        self.printer = printer
        self.objects = objects
        self.respond = respond
        self.commands: dict[str, tuple[Handler, str]] = {}
        self._lock = asyncio.Lock()
        from .klipper_builtins import register_builtins
        from .klipper_extras import register_extras

        register_builtins(self)
        register_extras(self)
        self._register_macros()
        objects.gcode_help = {**MARLIN_HELP, **self.help()}
        objects.publish_commands()

    # ------------------------------------------------------------------ registry
    def register(self, name: str, handler: Handler, help_text: str) -> None:
        """Add a command (upper-case name)."""
        self.commands[name.upper()] = (handler, help_text)

    def _register_macros(self) -> None:
        for macro in self.objects.macros.macros.values():
            if macro.rename_existing:
                existing = self.commands.pop(macro.name, None)
                if existing is None and is_native(macro.name):
                    existing = (self._passthrough(macro.name), f"Renamed builtin of "
                                                              f"'{macro.name}'")
                if existing is None:
                    self.printer.host.warn(f"[gcode_macro {macro.name}]: existing command "
                                           f"'{macro.name}' not found for rename_existing")
                else:
                    self.commands[macro.rename_existing] = existing
            elif macro.name in self.commands:
                self.printer.host.warn(f"[gcode_macro {macro.name}]: command already exists;"
                                       " use rename_existing")
                continue
            self.commands[macro.name] = (self._macro_handler(macro), macro.description)

    def _passthrough(self, code: str) -> Handler:
        async def send(call: GcodeCall) -> None:
            await self.send_native(f"{code} {call.rawparams}".strip())
        return send

    def _macro_handler(self, macro: Macro) -> Handler:
        async def run(call: GcodeCall) -> None:
            await self.run_macro(macro, call)
        return run

    def help(self) -> dict[str, str]:
        """Every registered command with its help text."""
        return {name: text for name, (_handler, text) in sorted(self.commands.items())}

    # ------------------------------------------------------------------ running
    async def run_script(self, script: str) -> None:
        """Run a script line by line (one script at a time, like Klipper's G-code mutex)."""
        async with self._lock:
            self.objects.busy += 1
            self.objects.activity()
            try:
                await self._run_lines(script.splitlines(), ())
            finally:
                self.objects.busy -= 1
                # a query right after the answer sees what the script did
                self.objects.refresh()

    async def _run_lines(self, lines: list[str], stack: tuple[str, ...]) -> None:
        for line in lines:
            call = parse_line(line)
            if call is not None:
                await self.run_call(call, stack)

    async def run_call(self, call: GcodeCall, stack: tuple[str, ...] = ()) -> None:
        """Run one parsed command."""
        entry = self.commands.get(call.name)
        if entry is not None:
            if call.name in stack:
                raise GcodeError(f"Macro {call.name} called recursively")
            if len(stack) >= MAX_DEPTH:
                raise GcodeError(f"Macros nested too deeply at {call.name}")
            call.stack = (*stack, call.name)
            await entry[0](call)
            return
        if is_native(call.name):
            await self.send_native(call.line)
            return
        raise GcodeError(f"Unknown command:\"{call.name}\"")

    async def run_macro(self, macro: Macro, call: GcodeCall) -> None:
        """Render `macro` for `call` and run its lines."""
        stack = call.stack or (macro.name,)
        self.objects.refresh()
        emergency: list[str] = []

        def respond_info(message: str) -> str:
            self.respond(f"// {message}")
            return ""

        def raise_error(message: str) -> str:
            raise MacroError(message)

        def emergency_stop(message: str = "action_emergency_stop") -> str:
            emergency.append(message)
            return ""

        actions = {"action_respond_info": respond_info, "action_raise_error": raise_error,
                   "action_emergency_stop": emergency_stop,
                   "action_call_remote_method": lambda *_a, **_k: ""}
        printer = template_value(self.objects.status.objects)
        try:
            lines = self.objects.macros.render(macro, dict(call.params), call.rawparams,
                                               printer, actions)
        except MacroError as exc:
            raise GcodeError(str(exc)) from None
        if emergency:
            await self.printer.link.send_emergency("M112")
            raise GcodeError(emergency[0])
        await self._run_lines(lines, stack)

    async def send_native(self, line: str) -> list[str]:
        """Send a Marlin line through the printer component; errors become `GcodeError`."""
        printer = self.printer
        if not printer.link.is_operational:
            raise GcodeError("Printer is not ready")
        code = line.split(None, 1)[0].upper()
        asked = code in REQUESTED_REPORTS
        if asked:
            self.objects.requested_reports += 1
        try:
            return list(await printer.commands([line]))
        except CommandError as exc:
            raise GcodeError(exc.message) from None
        except QueueFull as exc:
            # not the script's fault: the client may retry later
            raise ApiError(str(exc), 503) from None
        except PrinterLinkError as exc:
            raise GcodeError(str(exc) or type(exc).__name__) from None
        except ApiError as exc:
            raise GcodeError(exc.message) from None
        finally:
            if asked:
                self.objects.requested_reports -= 1
