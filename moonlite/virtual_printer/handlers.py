"""The G-code handler registry and dispatch (unknown commands get Marlin's echo)."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from moonlite.virtual_printer.framing import Command

if TYPE_CHECKING:
    from moonlite.virtual_printer.printer import VirtualPrinter

Handler = Callable[["VirtualPrinter", Command], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}

# accepted and acknowledged without any effect worth simulating
NO_OPS = frozenset(
    "G20 G21 G29 M31 M75 M76 M77 M80 M81 M111 M149 M150 M300 M420 M500 M501 M502 "
    "M851 M900 M999 M29 M997".split()
)
# with the emergency parser these already acted when received; the queued copy only gets `ok`
# (without it they acted when read from the RX buffer, see VirtualPrinter._handle_line)
EMERGENCY = frozenset(("M108", "M112", "M410"))


def handles(*codes: str) -> Callable[[Handler], Handler]:
    """Register the decorated coroutine for the given G-code words."""

    def register(handler: Handler) -> Handler:
        for code in codes:
            HANDLERS[code] = handler
        return handler

    return register


async def dispatch(printer: VirtualPrinter, command: Command) -> None:
    """Run `command` on `printer`."""
    code = command.code
    handler = HANDLERS.get(code)
    if handler is not None:
        await handler(printer, command)
        return
    if code.startswith("T") and code[1:].isdigit():
        await HANDLERS["T"](printer, command)
        return
    if code in NO_OPS or code in EMERGENCY:
        return
    printer.emit(f'echo:Unknown command: "{command.text}"')


def _load() -> None:
    # the handler modules register themselves on import
    for module in ("cmd_heat", "cmd_info", "cmd_motion", "cmd_sd"):
        importlib.import_module(f"moonlite.virtual_printer.{module}")


_load()
