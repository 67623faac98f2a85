"""Moonraker's printer endpoints and notifications for a Marlin printer (a printer mixin).

The `printer.*` methods that Klippy provides behind Moonraker (`printer.info`,
`printer.gcode.script`, `printer.print.*`, `printer.emergency_stop`, restarts, endstops), the
console (`notify_gcode_response`, filtered of the protocol's own chatter, and the data store's
G-code history) and `notify_klippy_ready/shutdown/disconnected` on link state changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import socket
import sys
from typing import Any

from moonlite.rpc import ApiError, Request, api

from . import parser
from .klipper_commands import GcodeError, KlipperCommands
from .objects import ObjectTracker
from .objects_api import ObjectsApi

log = logging.getLogger(__name__)
BOTH_VERBS = ("GET", "POST")
#: what printer.info reports: Mainsail and Fluidd need Klipper >= v0.11.0-257 and read `app`
SOFTWARE_VERSION = "v0.12.0-0-gmoonlite"
APP = "Klipper"


def console_text(line: str) -> str:
    """A firmware line as Klipper's console would show it (`//` info, `!!` errors)."""
    if line.startswith("echo:"):
        return "// " + line[5:].strip()
    if line.startswith("//action:"):
        # Klipper's form of host prompts (`// action:prompt_begin …`), which Mainsail shows
        return "// " + line[2:]
    if line.startswith("Error:") or line.startswith("!!"):
        return "!! " + line.lstrip("!").strip()
    return line


def is_chatter(line: str) -> bool:
    """Protocol lines no console shows: oks, busy/wait keepalives, resend requests."""
    return (line.startswith("ok") or "busy:" in line or line == "wait"
            or line.startswith("Resend") or line.startswith("rs "))


def is_report(line: str) -> bool:
    """Temperature, position and SD progress reports (autoreports unless asked for)."""
    return (parser.is_temperature_line(line) or ("X:" in line and "Count" in line)
            or line.startswith("SD printing byte") or line.startswith("Not SD printing"))


class MoonrakerPrinterApi:
    """`printer.*` endpoints; call `setup_moonraker()` once the printer's parts exist."""

    host: Any
    link: Any
    status: Any
    config: Any
    objects: ObjectTracker
    klipper: KlipperCommands

    def setup_moonraker(self) -> None:
        """Create the object tracker and the command layer and wire the notifications."""
        self._was_ready = False
        self.objects = ObjectTracker(self)
        self.klipper = KlipperCommands(self, self.objects, self.respond)
        self.objects.webhooks_listeners.append(self._notify_klippy)
        self.link.listeners.line.append(self._console_line)

    # ------------------------------------------------------------------ console
    def _data_store(self) -> Any:
        return self.host.get_component("data_store")

    def respond(self, text: str) -> None:
        """Send lines to every console (`notify_gcode_response`) and the G-code store."""
        store = self._data_store()
        for line in text.splitlines():
            self.host.notify("notify_gcode_response", line)
            if store is not None:
                store.add_gcode(line, "response")

    def _console_line(self, line: str) -> None:
        if is_chatter(line) or not self.link.is_operational:
            return  # the handshake's answers are not console output either
        objects = self.objects
        if objects.quiet or (not objects.requested_reports and is_report(line)):
            return
        self.respond(console_text(line))

    def _notify_klippy(self, state: str, _message: str) -> None:
        if state == "ready":
            self._was_ready = True
            self.host.notify("notify_klippy_ready")
            return
        if state == "shutdown":
            self.host.notify("notify_klippy_shutdown")
        elif self._was_ready:
            self.host.notify("notify_klippy_disconnected")
        self._was_ready = False

    # ------------------------------------------------------------------ endpoints
    @api("printer.info", verbs=BOTH_VERBS)
    async def printer_info(self) -> dict[str, Any]:
        """Printer state (`ready`, `startup`, `shutdown`, `error`) and host details."""
        await self.objects.ask_settings()
        state = self.status.get("webhooks", "state")
        message = self.status.get("webhooks", "state_message")
        firmware = getattr(self.link.firmware, "fields", {})
        return {
            "state": state, "state_message": message, "hostname": socket.gethostname(),
            "software_version": SOFTWARE_VERSION, "cpu_info": platform.processor() or
            platform.machine(), "klipper_path": os.path.dirname(os.path.dirname(__file__)),
            "python_path": sys.executable, "process_id": os.getpid(),
            "user_id": os.getuid(), "group_id": os.getgid(),
            "log_file": str(self.host.paths.logs / "moonlite.log"),
            "config_file": str(getattr(self.host.config, "path", "") or ""),
            "app": APP, "firmware_name": firmware.get("FIRMWARE_NAME", ""),
        }

    @api("printer.gcode.script", verbs=BOTH_VERBS)
    async def gcode_script(self, script: str) -> str:
        """Run G-code (Marlin and Klipper-style commands, macros); "ok" once all are done."""
        store = self._data_store()
        if store is not None:
            store.add_gcode(script, "command")
        try:
            await self.klipper.run_script(script)
        except GcodeError as exc:
            self.respond(f"!! {exc}")
            raise ApiError(str(exc), 400) from None
        return "ok"

    @api("printer.objects.subscribe", verbs=BOTH_VERBS)
    async def objects_subscribe(self, request: Request, objects: dict[str, Any],
                                connection_id: int | None = None) -> dict[str, Any]:
        """Subscribe this connection to objects; changes arrive as `notify_status_update`.

        Pending changes are flushed to the other subscribers first, so that the next diff
        this connection gets holds only what changed after its answer.
        """
        self.status.flush()
        return await ObjectsApi.objects_subscribe(self, request, objects, connection_id)

    @api("printer.gcode.help", verbs=BOTH_VERBS)
    async def gcode_help(self) -> dict[str, str]:
        """Every extended command with its help text."""
        return self.klipper.help()

    async def _script(self, script: str) -> str:
        try:
            await self.klipper.run_script(script)
        except GcodeError as exc:
            raise ApiError(str(exc), 400) from None
        return "ok"

    @api("printer.print.start", "POST")
    async def print_start(self, filename: str) -> str:
        """Start printing a file of the gcodes root."""
        name = filename.strip().lstrip("/")
        if name.startswith("gcodes/"):
            name = name[len("gcodes/"):]
        await self.print_file(name)  # type: ignore[attr-defined]
        return "ok"

    @api("printer.print.pause", "POST")
    async def print_pause(self) -> str:
        """Pause the print (runs the PAUSE macro)."""
        return await self._script("PAUSE")

    @api("printer.print.resume", "POST")
    async def print_resume(self) -> str:
        """Resume the print (runs the RESUME macro)."""
        return await self._script("RESUME")

    @api("printer.print.cancel", "POST")
    async def print_cancel(self) -> str:
        """Cancel the print (runs the CANCEL_PRINT macro)."""
        return await self._script("CANCEL_PRINT")

    @api("printer.emergency_stop", verbs=BOTH_VERBS)
    async def api_emergency_stop(self) -> str:
        """M112 past every queue; the printer then needs a FIRMWARE_RESTART."""
        with contextlib.suppress(Exception):
            await self.emergency_stop()  # type: ignore[attr-defined]
        return "ok"

    @api("printer.restart", "POST")
    async def printer_restart(self) -> str:
        """Reconnect to the printer (Klipper's RESTART)."""
        await self.restart_link(firmware=False)
        return "ok"

    @api("printer.firmware_restart", "POST")
    async def printer_firmware_restart(self) -> str:
        """Reset the printer and reconnect (Klipper's FIRMWARE_RESTART)."""
        await self.restart_link(firmware=True)
        return "ok"

    @api("printer.query_endstops.status", verbs=BOTH_VERBS)
    async def endstops_status(self) -> dict[str, str]:
        """Endstop states from M119: {"x": "open" | "TRIGGERED", …}."""
        return await self.query_endstops()

    # ------------------------------------------------------------------ actions
    async def query_endstops(self) -> dict[str, str]:
        """Ask M119 and parse `x_min: open` lines; also sets `query_endstops.last_query`."""
        if not self.link.is_operational:
            raise ApiError("Printer is not ready", 503)
        self.objects.quiet += 1
        try:
            lines = await self.link.send("M119")
        except Exception as exc:
            raise ApiError(f"M119 failed: {exc}", 400) from None
        finally:
            self.objects.quiet -= 1
        result: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep or " " in name.strip():
                continue
            name = name.strip().lower()
            axis = name[:-4] if name.endswith("_min") else name
            value = value.strip()
            result.setdefault(axis, "TRIGGERED" if value.upper() == "TRIGGERED" else "open")
        self.status.update("query_endstops", {"last_query": {
            k: v == "TRIGGERED" for k, v in result.items()}})
        return result

    async def restart_link(self, firmware: bool) -> None:
        """Reconnect; a firmware restart first sends M999 and relies on the port reopening
        (DTR) to reset the board, as Klipper's FIRMWARE_RESTART resets the MCU."""
        link = self.link
        if firmware and link.transport is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.send("M999"), 2.0)
        disconnect = getattr(self, "disconnect", None)
        with contextlib.suppress(Exception):
            if disconnect is not None:
                await disconnect()
            else:
                await link.disconnect()
        self.start_connecting()  # type: ignore[attr-defined]
