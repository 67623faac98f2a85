"""Report lines: heater states (M105/M155), position (M114/M154), SD status (M27)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from moonlite.virtual_printer.heaters import report

if TYPE_CHECKING:
    from moonlite.virtual_printer.printer import VirtualPrinter


def temperatures(p: VirtualPrinter) -> str:
    """Marlin's heater states line, temperatures brought up to date first."""
    now = time.monotonic()
    for heater in p.heaters:
        heater.update(now, p.options.time_scale)
    return report(p.hotends, p.active_tool, p.bed, p.chamber)


def position(p: VirtualPrinter, real: bool = False) -> str:
    """`X:.. Y:.. Z:.. E:.. Count X:.. Y:.. Z:..` (commanded, or executed when `real`)."""
    if real:
        p.planner.moves_free()  # retires finished blocks
        machine = p.planner.executed
    else:
        machine = p.motion.machine()
    logical = [m + o for m, o in zip(machine, p.motion.offset, strict=True)]
    steps = p.options.steps_per_mm
    counts = [round(machine[i] * steps[i]) for i in range(3)]
    return (
        f"X:{logical[0]:.2f} Y:{logical[1]:.2f} Z:{logical[2]:.2f} E:{logical[3]:.2f}"
        f" Count X:{counts[0]} Y:{counts[1]} Z:{counts[2]}"
    )


def sd_status(p: VirtualPrinter) -> str:
    """`SD printing byte <pos>/<size>` while a file is open, else `Not SD printing`."""
    if p.sd.selected is not None:
        return f"SD printing byte {p.sd.position}/{p.sd.selected.size}"
    return "Not SD printing"


async def autoreport(p: VirtualPrinter, kind: str, seconds: int) -> None:
    """Emit report `kind` every `seconds` (times `interval_scale`) until cancelled."""
    interval = seconds * p.options.interval_scale
    while True:
        await asyncio.sleep(interval)
        if kind == "temp":
            p.emit(temperatures(p))
        elif kind == "pos":
            p.emit(position(p))
        elif p.sd.selected is not None:
            p.emit(sd_status(p))
