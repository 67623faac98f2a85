"""The pieces behind the printer objects: sent-line tracking, labelled objects, M503, macros."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from moonlite.components.printer.configfile import MachineLimits, parse_m503
from moonlite.components.printer.exclude_object import ExcludeObjects, scan_file
from moonlite.components.printer.klipper_commands import parse_line
from moonlite.components.printer.macros import MacroError, MacroSet, template_value
from moonlite.components.printer.move_tracking import MoveState
from moonraker_helpers import SHARED_GCODE, net_extrusion


def test_move_state_follows_marlin_modes() -> None:
    moves = MoveState()
    for line in ("G28", "G90", "M83", "G1 X10 Y20 Z0.3 E1.5 F1200", "G1 E-0.5", "G91",
                 "G1 X5 E2", "G90", "M82", "G92 E10", "G1 E12", "G92 X0", "M220 S120",
                 "M221 S90", "T1", "M104 S210", "M140 S60", "M106 S255", "M117 Layer 1"):
        moves.process(line)
    assert moves.homed_axes == "xyz"
    # G91 made E relative too; G92 X0 shifts the G-code X, not the toolhead
    assert moves.gcode_position == [0.0, 20.0, 0.3, 12.0]
    assert moves.position[0] == 15.0
    assert moves.filament_used == pytest.approx(1.5 - 0.5 + 2 + 2)
    assert (moves.speed_factor, moves.extrude_factor, moves.tool) == (1.2, 0.9, 1)
    assert moves.targets == {"extruder1": 210.0, "heater_bed": 60.0}
    assert moves.fan_speed == 1.0 and moves.message == "Layer 1"
    assert moves.feedrate == 1200.0
    moves.process("M84 X")
    assert moves.homed_axes == "yz"
    moves.process("M18")
    assert moves.homed_axes == ""


def test_move_state_counts_a_whole_file_like_the_file_says() -> None:
    moves = MoveState()
    path = SHARED_GCODE / "torus_marlin.gcode"
    for raw in path.read_text().splitlines():
        line = raw.partition(";")[0].strip()
        if line:
            moves.process(line)
    assert moves.filament_used == pytest.approx(net_extrusion(path))


def test_labelled_objects_of_a_prusaslicer_file() -> None:
    objects = scan_file(SHARED_GCODE / "torus_marlin.gcode")
    assert [o.name for o in objects] == ["TORUS.STL_ID_0_COPY_0"]
    torus = objects[0]
    assert len(torus.regions) == 28  # one per layer
    status = torus.status()
    assert status["center"] == pytest.approx([100.0, 100.0], abs=0.1)
    assert len(status["polygon"]) == 4
    exclude = ExcludeObjects()
    exclude.load(objects)
    start, end = torus.regions[3]
    assert exclude.object_at(start) == torus.name and exclude.object_at(end) is None


def test_m486_and_klipper_labels(tmp_path: Path) -> None:
    gcode = tmp_path / "labels.gcode"
    gcode.write_text(
        "EXCLUDE_OBJECT_DEFINE NAME=cube_1 CENTER=50,50 POLYGON=[[40,40],[60,40],[60,60]]\n"
        "G90\nM82\n"
        "EXCLUDE_OBJECT_START NAME=cube_1\nG1 X40 Y40 E1\nEXCLUDE_OBJECT_END NAME=cube_1\n"
        "M486 S0 A\"left part\"\nG1 X10 Y10 E2\nG1 X12 Y14 E3\nM486 S-1\n"
        "M486 S1\nG1 X80 Y90 E4\nM486 S-1\n")
    objects = {o.name: o for o in scan_file(gcode)}
    assert list(objects) == ["CUBE_1", "LEFT_PART", "1"]
    assert objects["CUBE_1"].status() == {"name": "CUBE_1", "center": [50.0, 50.0],
                                          "polygon": [[40, 40], [60, 40], [60, 60]]}
    assert objects["LEFT_PART"].status()["center"] == [11.0, 12.0]
    exclude = ExcludeObjects()
    exclude.load(list(objects.values()))
    assert exclude.exclude("left part") and exclude.excluded == ["LEFT_PART"]
    assert exclude.exclude("2") and exclude.excluded == ["LEFT_PART", "1"]
    assert not exclude.exclude("missing")
    text = gcode.read_bytes()
    inside = text.index(b"G1 X12 Y14 E3") + len(b"G1 X12 Y14 E3\n")
    # an excluded object's extrusion keeps absolute E in step without moving
    assert exclude.filter(inside, "G1 X12 Y14 E3") == "G92 E3"
    assert exclude.filter(inside, "G1 X12 Y14") is None
    assert exclude.filter(inside, "G1 Z0.6 F600") == "G0 Z0.6"
    assert exclude.filter(inside, "M106 S255") == "M106 S255"
    outside = text.index(b"EXCLUDE_OBJECT_END")
    assert exclude.filter(outside, "G1 X40 Y40 E1") == "G1 X40 Y40 E1"


def test_m503_gives_the_toolhead_limits() -> None:
    lines = ["echo:; Max feedrates (units/s):", "echo:  M203 X500.00 Y500.00 Z12.00 E120.00",
             "echo:  M201 X500.00 Y500.00 Z100.00 E5000.00",
             "echo:  M204 P1250.00 R500.00 T1000.00", "echo:  M205 B20000.00 S0.00 T0.00 J0.01"]
    m503 = parse_m503(lines)
    assert m503["M203"] == {"X": 500.0, "Y": 500.0, "Z": 12.0, "E": 120.0}
    limits = MachineLimits({"volume": {"width": 250, "depth": 210, "height": 220}}, m503)
    head = limits.toolhead()
    assert head["max_velocity"] == 500.0 and head["max_accel"] == 1250.0
    assert head["axis_maximum"] == [250, 210, 220, 0.0]
    # Klipper: junction_deviation = scv^2 * (sqrt(2) - 1) / max_accel
    scv = head["square_corner_velocity"]
    assert scv * scv * (math.sqrt(2) - 1) / 1250.0 == pytest.approx(0.01, rel=1e-3)
    centered = MachineLimits({"volume": {"width": 200, "depth": 200, "height": 100,
                                         "origin": "center"}}, {})
    assert centered.axis_minimum() == [-100, -100, 0.0, 0.0]


def test_macros_render_klipper_templates() -> None:
    macros = MacroSet()
    macro = macros.add("park", {
        "description": "Park the head", "variable_z": "10", "variable_names": "['a', 'b']",
        "gcode": "G1 X{printer.toolhead.axis_maximum.x - 5} Z{params.Z|default(z)}\n"
                 "{% for name in names %}M117 {name}\n{% endfor %}"})
    assert macros.get("PARK") is macro and macro.variables == {"z": 10, "names": ["a", "b"]}
    printer = {"toolhead": {"axis_maximum": [220.0, 220.0, 250.0, 0.0]}}
    lines = macros.render(macro, {"Z": "3"}, "Z=3", template_value(printer), {})
    assert lines == ["G1 X215.0 Z3", "M117 a", "M117 b"]
    with pytest.raises(MacroError, match="gcode_macro PARK"):
        macros.render(macro, {}, "", {}, {})  # printer.toolhead is undefined
    with pytest.raises(MacroError, match="unknown option"):
        macros.add("bad", {"gcode": "G28", "gcdoe": "x"})
    with pytest.raises(MacroError):
        macros.add("broken", {"gcode": "{% if %}"})
    macros.add_defaults()
    assert macros.get("CANCEL_PRINT") is not None
    assert macros.get("PAUSE").rename_existing == "BASE_PAUSE"  # type: ignore[union-attr]


def test_parse_line_keeps_marlin_words_and_klipper_params() -> None:
    call = parse_line("SET_HEATER_TEMPERATURE HEATER=extruder TARGET=200 ; comment")
    assert call is not None and call.params == {"HEATER": "extruder", "TARGET": "200"}
    message = parse_line("M117 Printing; 50% done")
    assert message is not None and message.rawparams == "Printing; 50% done"
    move = parse_line("g1 x10 y5 ; travel")
    assert move is not None and (move.name, move.line) == ("G1", "g1 x10 y5")
    quoted = parse_line('SDCARD_PRINT_FILE FILENAME="my part.gcode"')
    assert quoted is not None and quoted.params["FILENAME"] == "my part.gcode"
    assert parse_line("; only a comment") is None


def test_missing_params_are_falsy_as_in_klipper() -> None:
    macros = MacroSet()
    macro = macros.add("maybe", {
        "gcode": "{% if params.X %}G1 X{params.X}{% else %}G28{% endif %}"})
    assert macros.render(macro, {}, "", {}, {}) == ["G28"]
    assert macros.render(macro, {"X": "5"}, "X=5", {}, {}) == ["G1 X5"]


def test_macro_objects_keep_the_configured_name() -> None:
    macros = MacroSet()
    park = macros.add("park_head", {"gcode": "G28", "variable_z": "5"})
    assert park.name == "PARK_HEAD" and park.object_name == "gcode_macro park_head"
    assert macros.get("Park_Head") is park
    macros.add_defaults()
    assert macros.get("pause").object_name == "gcode_macro PAUSE"  # type: ignore[union-attr]
