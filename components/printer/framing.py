"""Marlin line framing: comment stripping, `N<n> <cmd>*<checksum>` and command classification."""

from __future__ import annotations

import re

#: commands whose `ok` may legitimately take long (OctoPrint's longRunningCommands + heat waits)
LONG_RUNNING = frozenset(
    {"G4", "G28", "G29", "G30", "G32", "M400", "M226", "M600", "M109", "M190", "M116", "M191",
     "M303", "G33", "G34", "G35", "M0", "M1"}
)  # fmt: skip
#: commands that may keep the firmware from reading new lines for a while (besides the above):
#: arcs are cut into many planner blocks; EEPROM writes and long reports take a while
BLOCKING = frozenset({"G2", "G3", "G5", "G12", "M500", "M501", "M503", "M20", "M33"})
#: commands acted on by Marlin's emergency parser (before the command queue)
EMERGENCY = frozenset({"M112", "M108", "M410", "M876"})

_CODE = re.compile(r"\s*([GMT]\d+)", re.IGNORECASE)
_M110_NUMBER = re.compile(r"\bN(\d+)", re.IGNORECASE)


def strip_comment(line: str) -> str:
    """Return `line` without its `;` comment and surrounding whitespace ('' if nothing is left)."""
    cut = line.find(";")
    if cut >= 0:
        line = line[:cut]
    return line.strip()


def checksum(data: bytes) -> int:
    """XOR of every byte of `data` (Marlin's line checksum)."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def frame(number: int, command: str) -> bytes:
    """Return the wire form `N<number> <command>*<checksum>\\n` of a stripped command."""
    body = f"N{number} {command}".encode("ascii", "replace")
    value = 0
    for byte in body:
        value ^= byte
    return b"%s*%d\n" % (body, value)


#: commands whose argument is free text that may be shortened to fit the firmware's line buffer
MESSAGE_COMMANDS = frozenset({"M117", "M118"})
#: what framing adds around a command at most: `N` + 9 digits + space + `*255` + newline
FRAME_OVERHEAD = 16


def command_problem(command: str, max_line_length: int) -> str | None:
    """Why `command` cannot be sent as one line (None when it can).

    Marlin reads a line into a buffer of MAX_CMD_SIZE (96) bytes: a longer line is cut, fails
    its checksum again and again, and the link ends in a resend loop.
    """
    if any(ord(c) < 32 or ord(c) == 127 for c in command):
        return "command contains control characters"
    if len(command.encode("utf-8")) + FRAME_OVERHEAD > max_line_length:
        return (f"command too long for the firmware's line buffer ({len(command)} characters, "
                f"at most {max_line_length - FRAME_OVERHEAD})")
    return None


def fit_command(command: str, max_line_length: int) -> str:
    """Shorten the text of a message command (M117/M118) to fit; others are returned as is."""
    budget = max_line_length - FRAME_OVERHEAD
    if len(command) <= budget or gcode_code(command) not in MESSAGE_COMMANDS:
        return command
    return command[:budget].rstrip()


def gcode_code(command: str) -> str | None:
    """The command's code (`G1`, `M105`, `T0`), upper-cased; None when it is no G/M/T code."""
    match = _CODE.match(command)
    return match.group(1).upper() if match else None


def m110_number(command: str) -> int | None:
    """For `M110 N<k>` return k (0 when no N is given); None for any other command."""
    if gcode_code(command) != "M110":
        return None
    match = _M110_NUMBER.search(command, command.upper().find("M110") + 4)
    return int(match.group(1)) if match else 0
