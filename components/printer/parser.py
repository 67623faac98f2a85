"""Parsers for Marlin's report lines: temperatures, position, firmware info, SD, actions, errors."""

from __future__ import annotations

import enum
import re

# --- temperatures -------------------------------------------------------------------------
_TEMP = re.compile(
    r"(?:^|\s)(?P<sensor>B|C|T(?P<tool>\d*)|[A-Za-z][\w]*):\s*(?P<actual>[-+]?\d*\.?\d+)"
    r"(?:\s*/\s*(?P<target>[-+]?\d*\.?\d+))?"
)

Temperatures = dict[str, tuple[float, float | None]]


def is_temperature_line(line: str) -> bool:
    """Whether `line` is a temperature report (M105 answer or M155 autoreport)."""
    return (
        " T:" in line
        or line.startswith("T:")
        or " T0:" in line
        or line.startswith("T0:")
        or ((" B:" in line or line.startswith("B:")) and "A:" not in line)
    )


def parse_temperatures(line: str, current_tool: int = 0) -> Temperatures:
    """Parse a temperature report into {sensor: (actual, target)}.

    Keys are `T0`, `T1`, … for hotends, `B` bed, `C` chamber, and any other `Name:` sensor
    (`P` PINDA, `A` ambient). A bare `T` is the active tool (`current_tool`) unless numbered
    tools are also reported; without `T0` but with `T1` (Smoothieware) it is `T0`. Power values
    (`@:`, `B@:`) and raw ADC values in parentheses are ignored; the first report of a sensor wins.
    """
    found: Temperatures = {}
    for match in _TEMP.finditer(line):
        sensor = match.group("sensor")
        if sensor in found or sensor == "ok" or sensor == "N":
            continue
        target = match.group("target")
        found[sensor] = (float(match.group("actual")), float(target) if target else None)
    if "T" in found:
        bare = found.pop("T")
        numbered = [k for k in found if k[0] == "T" and k[1:].isdigit()]
        if not numbered:
            found[f"T{current_tool}"] = bare
        elif "T0" not in found:
            found["T0"] = bare
    return found


# --- position -----------------------------------------------------------------------------
_POSITION = re.compile(
    r"X:\s*(?P<x>[-+]?\d*\.?\d+)\s*Y:\s*(?P<y>[-+]?\d*\.?\d+)\s*Z:\s*(?P<z>[-+]?\d*\.?\d+)"
    r"(?P<extruders>(?:\s*E\d*:\s*[-+]?\d*\.?\d+)*)"
)
_EXTRUDER = re.compile(r"E(\d*):\s*([-+]?\d*\.?\d+)")


def parse_position(line: str) -> dict[str, float] | None:
    """Parse an M114/M154 report: {"x","y","z","e"[, "e0","e1",…]} from the first match only.

    The stepper `Count X:… Y:…` part that follows is ignored.
    """
    match = _POSITION.search(line)
    if match is None:
        return None
    pos = {axis: float(match.group(axis)) for axis in ("x", "y", "z")}
    for number, value in _EXTRUDER.findall(match.group("extruders")):
        pos[f"e{number}"] = float(value)
    if "e" not in pos and "e0" in pos:
        pos["e"] = pos["e0"]
    return pos


# --- firmware info and capabilities -------------------------------------------------------
_FIRMWARE_KEY = re.compile(r"(?:^|\s+)([A-Z][A-Z0-9_]*):")


def parse_firmware_line(line: str) -> dict[str, str]:
    """Split M115's first line into {KEY: value}; FIRMWARE_NAME runs up to the next ` KEY:`."""
    keys = list(_FIRMWARE_KEY.finditer(line))
    result: dict[str, str] = {}
    for index, match in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(line)
        result[match.group(1)] = line[match.end() : end].strip()
    return result


def parse_capability(line: str) -> tuple[str, bool] | None:
    """Parse `Cap:NAME:0|1` into (NAME, enabled); None for other lines."""
    if not line.startswith("Cap:"):
        return None
    name, _, value = line[4:].rpartition(":")
    if not name:
        return None
    return name.strip().upper(), value.strip() == "1"


# --- SD card ------------------------------------------------------------------------------
_SD_PROGRESS = re.compile(r"SD printing byte (\d+)\s*/\s*(\d+)")
_FILE_OPENED = re.compile(r"File opened:\s*(?P<name>.*?)\s+Size:\s*(?P<size>\d+)")


def parse_sd_progress(line: str) -> tuple[int, int] | None:
    """`SD printing byte <pos>/<size>` -> (pos, size)."""
    match = _SD_PROGRESS.search(line)
    return (int(match.group(1)), int(match.group(2))) if match else None


def parse_file_opened(line: str) -> tuple[str, int] | None:
    """`File opened: <name> Size: <n>` -> (name, size)."""
    match = _FILE_OPENED.search(line)
    return (match.group("name"), int(match.group("size"))) if match else None


# --- host action commands -----------------------------------------------------------------
def parse_action(line: str) -> tuple[str, str] | None:
    """`//action:<name>[ <args>]` (also `// action:`) -> (name, args)."""
    if not line.startswith("//"):
        return None
    body = line[2:].lstrip()
    if not body.startswith("action:"):
        return None
    name, _, args = body[7:].strip().partition(" ")
    return (name, args.strip()) if name else None


# --- errors -------------------------------------------------------------------------------
class ErrorKind(enum.Enum):
    """How the link treats an `Error:` line (OctoPrint's classification)."""

    #: missing line number: the firmware expects the host to carry on; a resend follows
    MISSING_LINE_NUMBER = "missing_line_number"
    #: line number / checksum / format errors: a `Resend:` follows
    COMMUNICATION = "communication"
    #: SD card trouble: reported to the command, not fatal
    SD = "sd"
    #: the firmware did not know the command
    UNKNOWN_COMMAND = "unknown_command"
    #: everything else: the printer is (or must be) stopped
    FATAL = "fatal"


_MISSING_LINE = ("no line number with checksum", "missing linenumber")
_COMM = ("line number", "linenumber", "checksum", "format error", "expected line")
_SD = ("volume.init", "openroot", "workdir", "error writing to file", "cannot open",
       "open failed", "cannot enter")  # fmt: skip
#: kill errors whose detail (usually `Printer halted. kill() called!`) is on the next line
_CONTINUED = (
    "heating failed", "thermal runaway", "thermal malfunction", "maxtemp triggered",
    "mintemp triggered", "invalid extruder number", "watchdog barked", "kill caused",
)  # fmt: skip


def is_error_line(line: str) -> bool:
    """Whether `line` reports an error (`Error:`, `!!`, Repetier's `fatal:`)."""
    head = line[:6].lower()
    return head.startswith("error:") or line.startswith("!!") or head.startswith("fatal:")


def error_text(line: str) -> str:
    """The message of an error line without its `Error:`/`!!`/`fatal:` prefix."""
    if line.startswith("!!"):
        return line[2:].strip()
    return line.partition(":")[2].strip()


def classify_error(text: str) -> ErrorKind:
    """Classify an error message (without its prefix)."""
    low = text.lower()
    if any(key in low for key in _MISSING_LINE):
        return ErrorKind.MISSING_LINE_NUMBER
    if any(key in low for key in _COMM):
        return ErrorKind.COMMUNICATION
    if any(key in low for key in _SD):
        return ErrorKind.SD
    if "unknown command" in low:
        return ErrorKind.UNKNOWN_COMMAND
    return ErrorKind.FATAL


def error_continues(text: str) -> bool:
    """Whether the error's detail follows on the next line (`Error:<digit>`, kill errors)."""
    low = text.lower()
    return (bool(text) and text[0].isdigit()) or any(key in low for key in _CONTINUED)


# --- resend requests ----------------------------------------------------------------------
_RESEND = re.compile(r"(?:N|N:)?\s*(\d+)")


def parse_resend(line: str) -> int | None:
    """`Resend: 12`, `Resend:12`, `rs N12`, `rs 12` -> 12; None for other lines."""
    low = line[:6].lower()
    if low.startswith("resend"):
        rest = line[6:].lstrip(" :")
    elif low.startswith("rs"):
        rest = line[2:]
    else:
        return None
    match = _RESEND.match(rest.strip())
    return int(match.group(1)) if match else None
