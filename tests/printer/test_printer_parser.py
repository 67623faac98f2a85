"""Report-line parsers and the state machine's transition table."""

from __future__ import annotations

import pytest
from moonlite.components.printer import parser
from moonlite.components.printer.framing import gcode_code, m110_number, strip_comment
from moonlite.components.printer.parser import ErrorKind
from moonlite.components.printer.state import (
    TRANSITIONS,
    IllegalTransition,
    PrinterState,
    StateMachine,
)


def test_temperatures_marlin_multi_tool_bed_chamber() -> None:
    line = "T:201.87 /202.00 T0:110.0 /110.0 T1:23.0 /0.0 B:117.39 /120.00 C:35.5 /40.0 @:127 B@:0"
    temps = parser.parse_temperatures(line)
    assert temps == {
        "T0": (110.0, 110.0),
        "T1": (23.0, 0.0),
        "B": (117.39, 120.0),
        "C": (35.5, 40.0),
    }


def test_temperatures_variants() -> None:
    assert parser.parse_temperatures("ok T:21.30/ 0.00 B:21.30/ 0.00 @:64", current_tool=1) == {
        "T1": (21.3, 0.0),
        "B": (21.3, 0.0),
    }
    prusa = parser.parse_temperatures("T:24.3 /0.0 B:23.9 /0.0 T0:24.3 /0.0 @:0 B@:0 P:22.8 A:29.4")
    assert prusa["P"] == (22.8, None) and prusa["A"] == (29.4, None) and "T" not in prusa
    assert parser.parse_temperatures("T:210.0 T1:200 /200") == {"T0": (210.0, None),
                                                                  "T1": (200.0, 200.0)}
    assert parser.is_temperature_line(" T:21.30 /0.00 B:21.30 /0.00 @:0 B@:0")
    assert not parser.is_temperature_line("ok N12 P15 B3")
    assert not parser.is_temperature_line("X:0.00 Y:0.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0")


def test_position_first_match_only() -> None:
    line = "X:10.00 Y:20.50 Z:0.30 E:-1.20 Count X:800 Y:1640 Z:120"
    assert parser.parse_position(line) == {"x": 10.0, "y": 20.5, "z": 0.3, "e": -1.2}
    multi = parser.parse_position("ok X:1.0 Y:2.0 Z:3.0 E0:4.0 E1:5.0 Count: A:0 B:0 C:0")
    assert multi == {"x": 1.0, "y": 2.0, "z": 3.0, "e0": 4.0, "e1": 5.0, "e": 4.0}
    assert parser.parse_position("echo:busy: processing") is None


def test_firmware_line_and_capabilities() -> None:
    line = (
        "FIRMWARE_NAME:Marlin 2.1.2 (Jan  1 2024 12:00:00) SOURCE_CODE_URL:github.com/Marlin"
        "Firmware/Marlin PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3 EXTRUDER_COUNT:2 UUID:abc"
    )
    fields = parser.parse_firmware_line(line)
    assert fields["FIRMWARE_NAME"] == "Marlin 2.1.2 (Jan  1 2024 12:00:00)"
    assert fields["EXTRUDER_COUNT"] == "2" and fields["MACHINE_TYPE"] == "Ender-3"
    assert parser.parse_capability("Cap:AUTOREPORT_TEMP:1") == ("AUTOREPORT_TEMP", True)
    assert parser.parse_capability("Cap:EEPROM:0") == ("EEPROM", False)
    assert parser.parse_capability("echo:hello") is None


def test_sd_and_action_lines() -> None:
    assert parser.parse_sd_progress("SD printing byte 123/4567") == (123, 4567)
    assert parser.parse_file_opened("File opened: test.gco Size: 51") == ("test.gco", 51)
    assert parser.parse_action("//action:pause") == ("pause", "")
    assert parser.parse_action("// action:prompt_begin Filament runout") == (
        "prompt_begin",
        "Filament runout",
    )
    assert parser.parse_action("// just a comment") is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Line Number is not Last Line Number+1, Last Line: 12", ErrorKind.COMMUNICATION),
        ("checksum mismatch, Last Line: 99", ErrorKind.COMMUNICATION),
        ("No Checksum with line number, Last Line: 5", ErrorKind.COMMUNICATION),
        ("No Line Number with checksum, Last Line: 109", ErrorKind.MISSING_LINE_NUMBER),
        ("volume.init failed", ErrorKind.SD),
        ("open failed, File: nope.gco.", ErrorKind.SD),
        ("Printer halted. kill() called!", ErrorKind.FATAL),
        ("Thermal Runaway, system stopped! Heater_ID: 0", ErrorKind.FATAL),
    ],
)
def test_error_classification(text: str, kind: ErrorKind) -> None:
    assert parser.classify_error(text) is kind


def test_error_and_resend_lines() -> None:
    assert parser.is_error_line("Error:checksum mismatch") and parser.is_error_line("!! bad")
    assert parser.error_text("Error:Printer halted. kill() called!") == (
        "Printer halted. kill() called!"
    )
    assert parser.error_continues("Thermal Runaway, system stopped! Heater_ID: 0")
    assert parser.error_continues("0") and not parser.error_continues("checksum mismatch")
    for line in ("Resend: 12", "Resend:12", "rs N12", "rs 12", "resend 12"):
        assert parser.parse_resend(line) == 12, line
    assert parser.parse_resend("echo:start") is None


def test_framing_helpers() -> None:
    assert strip_comment("G1 X10 ; move") == "G1 X10"
    assert strip_comment(";only comment") == ""
    assert gcode_code("g28 X") == "G28" and gcode_code("T1") == "T1"
    assert gcode_code("echo") is None
    assert m110_number("M110 N5") == 5 and m110_number("M110") == 0
    assert m110_number("M105") is None


def test_state_machine_transitions() -> None:
    machine = StateMachine()
    seen: list[tuple[str, str]] = []
    machine.listeners.append(lambda old, new: seen.append((old.value, new.value)))
    assert machine.get_state_id() == "OFFLINE" and machine.get_state_string() == "Offline"
    for state in ("OPEN_SERIAL", "CONNECTING", "OPERATIONAL", "PRINTING", "PAUSING", "PAUSED",
                  "RESUMING", "PRINTING", "CANCELLING", "OPERATIONAL", "CLOSED"):
        machine.set(PrinterState(state))
    assert len(seen) == 11 and seen[-1] == ("OPERATIONAL", "CLOSED")
    with pytest.raises(IllegalTransition):
        machine.set(PrinterState.PRINTING)  # CLOSED -> PRINTING skips the connection
    machine.set(PrinterState.CLOSED)  # staying put is not a transition
    assert len(seen) == 11
    assert PrinterState.CLOSED_WITH_ERROR.text == "Offline after error"
    # every state has a row, every target is a state, and an error is reachable from a print
    assert set(TRANSITIONS) == set(PrinterState) - {PrinterState.NONE} | {PrinterState.NONE}
    assert PrinterState.ERROR in TRANSITIONS[PrinterState.PRINTING]
    assert not TRANSITIONS[PrinterState.UNKNOWN]
