"""SD card G-codes: M20-M30, M33 and the end-of-file step that prints `Done printing file`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from moonlite.virtual_printer.framing import Command
from moonlite.virtual_printer.handlers import handles

if TYPE_CHECKING:
    from moonlite.virtual_printer.printer import VirtualPrinter


def _mounted(p: VirtualPrinter) -> bool:
    if not p.sd.mounted:
        p.emit("echo:No media")
        return False
    return True


@handles("M20")
async def list_files(p: VirtualPrinter, command: Command) -> None:
    """`Begin file list`, `<8.3 path> <size> [0x<time>] [<long path>]`, `End file list`."""
    if not _mounted(p):
        return
    extended = p.options.extended_m20
    with_long = extended and command.has("L")
    with_time = extended and command.has("T")
    p.emit("Begin file list")
    for entry in p.sd.entries():
        line = f"{entry.short} {entry.size}"
        if with_time:
            line += f" 0x{entry.fat_time:08X}"
        if with_long:
            line += f' "{entry.long}"' if p.options.quote_long_names else f" {entry.long}"
        p.emit(line)
    p.emit("End file list")


@handles("M21")
async def init_card(p: VirtualPrinter, command: Command) -> None:
    """Mount the card."""
    p.sd.mounted = p.sd.root is not None and p.sd.root.is_dir()
    p.emit("echo:SD card ok" if p.sd.mounted else "echo:SD init fail")


@handles("M22")
async def release_card(p: VirtualPrinter, command: Command) -> None:
    """Unmount the card."""
    p.sd.close_file()
    p.sd.mounted = False
    p.emit("echo:SD card released")


@handles("M23")
async def select_file(p: VirtualPrinter, command: Command) -> None:
    """Open a file for printing: `File opened: <name> Size: <n>`, `File selected`."""
    if not _mounted(p):
        return
    name = command.rest
    entry = p.sd.find(name)
    if entry is None:
        p.emit(f"open failed, File: {name}.")
        return
    p.sd.select(entry)
    p.emit(f"File opened: {name} Size: {entry.size}")
    p.emit("File selected")


@handles("M24")
async def start_print(p: VirtualPrinter, command: Command) -> None:
    """Start or resume printing the selected file."""
    if p.sd.selected is not None:
        p.sd.printing = True


@handles("M25")
async def pause_print(p: VirtualPrinter, command: Command) -> None:
    """Pause the SD print (stop reading the file)."""
    p.sd.printing = False


@handles("M26")
async def set_position(p: VirtualPrinter, command: Command) -> None:
    """Set the file position (S bytes)."""
    if command.has("S"):
        p.sd.seek(command.integer("S"))


@handles("M27")
async def print_status(p: VirtualPrinter, command: Command) -> None:
    """`SD printing byte <pos>/<size>` / `Not SD printing`; S<n> autoreports; C the name."""
    if command.params.get("S") is not None:
        p.set_autoreport("sd", command.integer("S"))
    elif command.has("C"):
        entry = p.sd.selected
        p.emit(f"Current file: {entry.short} {entry.long}" if entry else "Current file: (no file)")
    else:
        p.emit(p.sd_status())


@handles("M28")
async def begin_write(p: VirtualPrinter, command: Command) -> None:
    """Start writing the following lines to a file, until M29."""
    if not _mounted(p):
        return
    name = command.rest
    target = p.sd.resolve_new(name)
    if target is None:
        p.emit(f"open failed, File: {name}.")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    p.sd.close_writer()
    p.sd.writer = target.open("wb")  # open until M29
    p.emit(f"Writing to file: {name}")


@handles("M30")
async def delete_file(p: VirtualPrinter, command: Command) -> None:
    """Delete a file."""
    if not _mounted(p):
        return
    name = command.rest
    entry = p.sd.find(name)
    if entry is None or (p.sd.selected is not None and p.sd.selected.path == entry.path):
        p.emit(f"Deletion failed, File: {name}.")
        return
    entry.path.unlink()
    p.emit(f"File deleted:{name}")


@handles("M33")
async def long_name(p: VirtualPrinter, command: Command) -> None:
    """Print the long path of an 8.3 path."""
    entry = p.sd.find(command.rest)
    p.emit(entry.long if entry is not None else command.rest)


@handles("M1001")
async def file_done(p: VirtualPrinter, command: Command) -> None:
    """Queued internally at the end of the file: finish moves, announce, close."""
    await p.planner.synchronize()
    p.emit("Done printing file")
    p.sd.close_file()
