"""Errors: malformed configs name the field, binary input and missing files are refused."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest
from moonlite.components.analysis.cli import add_analyze_parser, run_analyze
from moonlite.components.analysis.jobs import NotGcodeError, check_text_file
from moonlite.components.analysis.limits import (
    ConfigError,
    limits_from_config,
    limits_from_slicer,
    load_config,
    parse_config,
    read_slicer_settings,
)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"max_velocity": -1}, "max_velocity"),
        ({"max_acceleration": "fast"}, "max_acceleration"),
        ({"minimum_cruise_ratio": 2}, "minimum_cruise_ratio"),
        ({"max_velocty": 300}, "max_velocty"),
        ({"move_checkers": [{}]}, "move_checkers.0"),
        ({"move_checkers": [{"axis_limiter": {"axis": [0, 0], "max_velocity": 1,
                                              "max_accel": 1}}]}, "move_checkers.0.axis_limiter"),
        ({"junction_model": "magic"}, "junction_model"),
        ({"max_jerk": {"x": 0}}, "max_jerk.x"),
    ],
)
def test_malformed_config_names_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"field '{field}"):
        parse_config(data)


def test_config_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"max_velocity": 300,}')
    with pytest.raises(ConfigError, match="invalid JSON at line 1"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.json")
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        load_config(bad)


def test_seed_config_selects_klipper_model(tmp_path: Path) -> None:
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({
        "max_velocity": 300, "max_acceleration": 1500, "minimum_cruise_ratio": 0.5,
        "square_corner_velocity": 5, "instant_corner_velocity": 1,
        "move_checkers": [
            {"axis_limiter": {"axis": [0, 0, 1], "max_velocity": 15, "max_accel": 200}},
            {"extruder_limiter": {"max_velocity": 120, "max_accel": 1250}},
        ],
    }))
    lim = limits_from_config(load_config(path))
    assert lim.model == "square_corner"
    assert lim.accel_to_decel() == 750
    assert lim.klipper_junction_deviation() == pytest.approx(25 * (math.sqrt(2) - 1) / 1500)
    assert len(lim.axis_limiters) == 1 and lim.extruder_limiter is not None


def test_limits_recorded_by_the_slicer(gcode_dir: Path) -> None:
    lim, used = limits_from_slicer(read_slicer_settings(gcode_dir / "sphere_fine.gcode"))
    assert used
    assert lim.model == "classic_jerk"
    assert lim.print_accel == lim.travel_accel == lim.retract_accel == 1500
    assert lim.max_feedrate == [500, 500, 12, 120]
    assert lim.jerk == [10, 10, 0.2, 2.5]


def test_binary_input_refused(tmp_path: Path) -> None:
    blob = tmp_path / "blob.gcode"
    blob.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(NotGcodeError, match="not a G-code text file"):
        check_text_file(blob)
    bgcode = tmp_path / "print.bgcode"
    bgcode.write_bytes(b"GCDE\x01\x00\x00\x00")
    with pytest.raises(NotGcodeError, match="bgcode"):
        check_text_file(bgcode)
    text = tmp_path / "ok.gcode"
    text.write_text("G1 X1\n")
    check_text_file(text)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_analyze_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["analyze", *argv])


def test_cli_json_and_errors(tmp_path: Path, gcode_dir: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert run_analyze(parse([str(gcode_dir / "hexnut_marlin2.gcode"), "--json"])) == 0
    result = json.loads(capsys.readouterr().out)
    assert 59 < result["total_time"] < 64
    assert run_analyze(parse([str(tmp_path / "none.gcode")])) == 2
    assert "no such file" in capsys.readouterr().err
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"square_corner_velocity": "x"}')
    assert run_analyze(parse([str(gcode_dir / "hexnut_marlin2.gcode"), "--config", str(cfg)])) == 2
    assert "square_corner_velocity" in capsys.readouterr().err
    blob = tmp_path / "blob.gcode"
    blob.write_bytes(b"\x00\x01" * 100)
    assert run_analyze(parse([str(blob)])) == 2
    assert "not a G-code text file" in capsys.readouterr().err
    assert run_analyze(parse([str(gcode_dir / "hexnut_marlin2.gcode")])) == 0
    assert "estimated time: 1m" in capsys.readouterr().out


def test_limits_from_an_m503_report() -> None:
    from moonlite.components.analysis.marlin_settings import limits_from_m503

    report = [
        "echo:; Maximum feedrates (units/s):",
        "echo:  M203 X500.00 Y500.00 Z12.00 E120.00",
        "echo:  M201 X9000.00 Y9000.00 Z500.00 E10000.00",
        "echo:  M204 P1500.00 R1500.00 T1250.00",
        "echo:  M205 B20000.00 S0.00 T0.00 J0.02",
        "ok",
    ]
    lim = limits_from_m503(report)
    assert lim.model == "junction_deviation"
    assert lim.junction_deviation == pytest.approx(0.02)
    assert lim.max_feedrate == [500, 500, 12, 120]
    assert lim.max_axis_accel == [9000, 9000, 500, 10000]
    assert (lim.print_accel, lim.retract_accel, lim.travel_accel) == (1500, 1500, 1250)
    jerk = limits_from_m503(["echo:  M205 B20000 S0 T0 X8.00 Y8.00 Z0.40 E5.00"])
    assert jerk.model == "classic_jerk"
    assert jerk.jerk == [8, 8, 0.4, 5]


def test_junction_deviation_recorded_by_the_slicer(tmp_path: Path) -> None:
    path = tmp_path / "orca.gcode"
    path.write_text("G1 X1\n; machine_max_junction_deviation = 0.02,0.01\n"
                    "; machine_max_acceleration_extruding = 5000,1000\n")
    lim, used = limits_from_slicer(read_slicer_settings(path))
    assert lim.model == "junction_deviation"
    assert lim.junction_deviation == pytest.approx(0.02)
    assert lim.print_accel == lim.travel_accel == 5000
    assert set(used) == {"machine_max_junction_deviation", "machine_max_acceleration_extruding"}
