"""Marlin's receive-side line checks (N/checksum/M110) and the parsed G-code command."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ERR_LINE_NO = "Line Number is not Last Line Number+1, Last Line: "
ERR_CHECKSUM = "checksum mismatch, Last Line: "
ERR_NO_CHECKSUM = "No Checksum with line number, Last Line: "

_CODE = re.compile(r"\s*([GMTgmt])\s*(\d+)(?:\.(\d+))?")
_PARAM = re.compile(r"([A-Za-z])\s*([-+]?(?:\d+\.?\d*|\.\d+))?")
_N_VALUE = re.compile(r"\s*N\s*([-+]?\d+)")


def checksum(data: bytes) -> int:
    """XOR of every byte (the value after `*` on a numbered line)."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def frame(line_number: int, command: str) -> bytes:
    """`N<n> <command>*<checksum>\\n`, as a host sends it."""
    body = f"N{line_number} {command}".encode("ascii")
    return body + b"*" + str(checksum(body)).encode("ascii") + b"\n"


class LineError(Exception):
    """A received line failed Marlin's checks; `message` is the text after `Error:`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(slots=True)
class Received:
    """A line that passed the checks: its command text and the line number it carried."""

    text: str
    line_number: int | None
    is_m110: bool = False


def _strip_comment(raw: str) -> str:
    # Marlin stops storing characters at ';' (outside quotes); '\' escapes the next one
    if ";" not in raw:
        return raw
    quoted = False
    escaped = False
    for i, ch in enumerate(raw):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            return raw[:i]
    return raw


def check_line(raw: str, last_n: int) -> Received | None:
    """Apply Marlin's checks to one received line (terminator already removed).

    Returns None for an empty line, raises `LineError` for a numbered line that fails the
    line-number or checksum check, and otherwise the command text without `N<n>` and `*<cs>`.
    """
    line = _strip_comment(raw).strip()
    if not line:
        return None
    if line[0] != "N":
        return Received(line, None, "M110" in line)
    is_m110 = "M110" in line
    number_at = 0
    if is_m110:
        # Marlin takes the N after M110 when there is one, else the prefix
        second = line.find("N", 4)
        if second != -1:
            number_at = second
    match = _N_VALUE.match(line, number_at)
    number = int(match.group(1)) if match else 0
    if number != last_n + 1 and not is_m110:
        raise LineError(ERR_LINE_NO)
    star = line.rfind("*")
    if star == -1:
        raise LineError(ERR_NO_CHECKSUM)
    digits = re.match(r"\s*(\d+)", line[star + 1 :])
    given = int(digits.group(1)) if digits else 0
    if given != checksum(line[:star].encode("latin-1")):
        raise LineError(ERR_CHECKSUM)
    prefix = _N_VALUE.match(line)
    start = prefix.end() if prefix else 1
    text = line[start:star].strip()
    return Received(text, number, is_m110)


def line_number_of(raw: str) -> int | None:
    """The `N<n>` prefix of a raw line, if it has one (used for fault triggers)."""
    match = _N_VALUE.match(raw)
    return int(match.group(1)) if match else None


@dataclass(slots=True)
class Command:
    """One queued G-code command (text without N/checksum) and how to answer it."""

    text: str
    line_number: int | None = None
    from_serial: bool = True
    skip_ok: bool = False
    internal: bool = False
    code: str = ""
    params: dict[str, float | None] = field(default_factory=dict)
    rest: str = ""  # the text after the code word (for M23/M117/M118 arguments)

    def __post_init__(self) -> None:
        match = _CODE.match(self.text)
        if not match:
            self.code = self.text.split(" ", 1)[0].upper()
            return
        letter, number, sub = match.groups()
        self.code = f"{letter.upper()}{int(number)}" + (f".{sub}" if sub else "")
        self.rest = self.text[match.end() :].strip()
        for key, value in _PARAM.findall(self.rest):
            name = key.upper()
            if name not in self.params:
                self.params[name] = float(value) if value else None

    def has(self, name: str) -> bool:
        """Whether parameter `name` appears (with or without a value)."""
        return name in self.params

    def num(self, name: str, default: float = 0.0) -> float:
        """The value of parameter `name`, `default` when absent or valueless."""
        value = self.params.get(name)
        return default if value is None else value

    def integer(self, name: str, default: int = 0) -> int:
        """The integer value of parameter `name` (truncated like Marlin's parser)."""
        value = self.params.get(name)
        return default if value is None else int(value)
