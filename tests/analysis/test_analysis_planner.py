"""Planner unit tests on constructed moves whose times are computed by hand."""

from __future__ import annotations

import math
from typing import Any

import pytest
from moonlite.components.analysis.estimator import estimate_text
from moonlite.components.analysis.limits import Limits, limits_from_config, parse_config

KLIPPER = {
    "max_velocity": 500,
    "max_acceleration": 1000,
    "minimum_cruise_ratio": 0,
    "square_corner_velocity": 5,
}
MARLIN_JERK = {
    "max_jerk": {"x": 10, "y": 10, "z": 0.4, "e": 5},
    "print_acceleration": 1000,
    "travel_acceleration": 1000,
    "retract_acceleration": 1000,
    "max_feedrate": {"x": 500, "y": 500},
    "max_axis_acceleration": {"x": 5000, "y": 5000},
}


def limits(data: dict[str, Any]) -> Limits:
    return limits_from_config(parse_config(data))


def run(text: str, data: dict[str, Any] = KLIPPER) -> dict[str, Any]:
    return estimate_text(text, limits(data))


def test_single_trapezoid() -> None:
    # 0 -> 100 mm/s at 1000 mm/s² takes 0.1 s and 5 mm; 90 mm cruise; symmetric braking
    res = run("G1 X100 F6000")
    assert res["total_time"] == pytest.approx(1.1, abs=1e-9)
    assert res["phase_times"]["acceleration"] == pytest.approx(0.1)
    assert res["phase_times"]["cruise"] == pytest.approx(0.9)
    assert res["phase_times"]["deceleration"] == pytest.approx(0.1)
    assert res["max_speed"] == pytest.approx(100.0)
    assert res["num_moves"] == 1
    assert res["total_distance"] == pytest.approx(100.0)


def test_triangle_profile() -> None:
    # too short to reach 100 mm/s: peak² = a·d, time = 2·sqrt(d/a)
    res = run("G1 X4 F6000")
    assert res["total_time"] == pytest.approx(2 * math.sqrt(4 / 1000))
    assert res["max_speed"] == pytest.approx(math.sqrt(4000))
    assert res["phase_times"]["cruise"] == pytest.approx(0.0, abs=1e-12)


def test_right_angle_corner_at_square_corner_velocity() -> None:
    # each leg: 0.1 s up to 100 mm/s, (100 - 5)/1000 s down to the 5 mm/s corner,
    # and 100 - 5 - (100² - 5²)/2000 mm of cruise
    leg = 0.1 + 0.095 + (100 - 5 - (100**2 - 5**2) / 2000) / 100
    res = run("G1 X100 F6000\nG1 Y100")
    assert res["total_time"] == pytest.approx(2 * leg)


def test_corner_speed_follows_square_corner_velocity() -> None:
    slow = run("G1 X100 F6000\nG1 Y100", {**KLIPPER, "square_corner_velocity": 1})
    fast = run("G1 X100 F6000\nG1 Y100", {**KLIPPER, "square_corner_velocity": 20})
    leg = lambda v: 0.1 + (100 - v) / 1000 + (100 - 5 - (100**2 - v**2) / 2000) / 100  # noqa: E731
    assert slow["total_time"] == pytest.approx(2 * leg(1))
    assert fast["total_time"] == pytest.approx(2 * leg(20))


def test_reversal_stops_the_toolhead() -> None:
    res = run("G1 X100 F6000\nG1 X0")
    assert res["total_time"] == pytest.approx(2.2)


def test_straight_continuation_keeps_speed() -> None:
    # two collinear 50 mm moves are one 100 mm trapezoid
    res = run("G1 X50 F6000\nG1 X100")
    assert res["total_time"] == pytest.approx(1.1)


def test_extrude_only_move_with_extruder_limiter() -> None:
    cfg = {**KLIPPER, "move_checkers": [{"extruder_limiter": {"max_velocity": 120,
                                                               "max_accel": 1000}}]}
    # 10 mm at 10 mm/s, accelerating at 1000 mm/s²: 0.01 s + 0.99 s + 0.01 s
    res = run("G1 E10 F600", cfg)
    assert res["total_time"] == pytest.approx(1.01)
    assert res["total_extrude_only_time"] == pytest.approx(1.01)
    assert res["total_extrude_distance"] == pytest.approx(10.0)
    # without a limiter an extrude-only move accelerates instantly (Klipper)
    assert run("G1 E10 F600")["total_time"] == pytest.approx(1.0, abs=1e-6)


def test_dwell() -> None:
    res = run("G4 P500\nG4 S2\nG4")
    assert res["total_time"] == pytest.approx(2.5)
    assert res["kind_times"] == {"Dwell": pytest.approx(2.5)}


def test_dwell_breaks_the_look_ahead() -> None:
    res = run("G1 X50 F6000\nG4 P0\nG1 X100")
    # two separate trapezoids of 50 mm: 0.1 + 0.4 + 0.1 s each
    assert res["total_time"] == pytest.approx(1.2)


def test_marlin_classic_jerk_starts_at_the_jerk_speed() -> None:
    # starts and ends at 10 mm/s (X jerk): 0.09 s and 4.95 mm each way, 90.1 mm of cruise
    res = run("G1 X100 F6000", MARLIN_JERK)
    assert res["total_time"] == pytest.approx(0.09 * 2 + 90.1 / 100)


def test_marlin_junction_deviation_corner() -> None:
    jd = 25 * (math.sqrt(2) - 1) / 1000  # the deviation whose 90° corner speed is 5 mm/s
    cfg = {**MARLIN_JERK, "junction_model": "junction_deviation", "junction_deviation": jd}
    leg = 0.1 + 0.095 + (100 - 5 - (100**2 - 5**2) / 2000) / 100
    assert run("G1 X100 F6000\nG1 Y100", cfg)["total_time"] == pytest.approx(2 * leg)


def test_axis_feedrate_limit_mid_file() -> None:
    fast = run("G1 X100 F6000", MARLIN_JERK)
    slow = run("M203 X50\nG1 X100 F6000", MARLIN_JERK)
    assert slow["max_speed"] == pytest.approx(50.0)
    # 10 -> 50 mm/s: 0.04 s, 1.2 mm each way; 97.6 mm at 50 mm/s
    assert slow["total_time"] == pytest.approx(0.08 + 97.6 / 50)
    assert fast["total_time"] < slow["total_time"]


def test_m204_travel_and_print_accelerations() -> None:
    text = "M204 P1000 T250\nG1 X100 F6000\nG1 Y100 E5"
    res = run(text, {**KLIPPER, "junction_model": "junction_deviation"})
    assert res["total_travel_time"] > res["total_output_time"]


def test_relative_positioning_and_g92() -> None:
    res = run("G91\nG1 X10 F600\nG1 X10\nG90\nG92 X0\nG1 X5\nM83\nG1 E1\nG1 E1")
    assert res["total_distance"] == pytest.approx(25.0 + 2.0)
    assert res["total_extrude_distance"] == pytest.approx(2.0)


def test_feedrate_multiplier() -> None:
    normal = run("G1 X100 F600")
    halved = run("M220 S50\nG1 X100 F600")
    assert halved["max_speed"] == pytest.approx(5.0)
    assert halved["total_time"] > 1.9 * normal["total_time"]


def test_klipper_velocity_limit_command() -> None:
    res = run("SET_VELOCITY_LIMIT VELOCITY=50 ACCEL=1000\nG1 X100 F6000")
    assert res["max_speed"] == pytest.approx(50.0)


def test_arc_length() -> None:
    res = run("G1 X0 Y0 F600\nG2 X20 Y0 I10 J0", {**KLIPPER, "mm_per_arc_segment": 0.1})
    assert res["total_distance"] == pytest.approx(math.pi * 10, rel=1e-3)


def test_indeterminate_waits_and_layers() -> None:
    text = "M109 S200\nG1 Z0.2 F600\n;TYPE:Perimeter\nG1 X10 Y10 E1 F1200\nM190 S60\n" \
           "G1 Z0.4\nG1 X0 Y0 E2\nG4 P250"
    res = run(text)
    layers = dict((z, t) for z, t in res["layer_times"])
    assert set(layers) == {0.2, 0.4}
    assert res["kind_times"]["Indeterminate time"] == pytest.approx(0.2)
    assert res["kind_times"]["Dwell"] == pytest.approx(0.25)
    assert sum(layers.values()) == pytest.approx(
        res["total_time"] - res["total_z_time"] - 0.2
    )


def test_inline_comment_is_the_move_kind() -> None:
    res = run(";TYPE:Perimeter\nG1 X10 F600\nG1 Z5 F600 ; lift nozzle\n"
              "G1 X0 ; move to next layer (3)")
    assert set(res["kind_times"]) == {"Perimeter", "lift nozzle", "move to next layer"}


def polygon(side: float, turn_deg: float, loops: int = 3) -> str:
    """A regular polygon path with sides of `side` mm turning by `turn_deg` at each corner."""
    radius = side / (2 * math.sin(math.radians(turn_deg) / 2))
    steps = round(360 / turn_deg) * loops
    lines = [f"G92 X{radius:.6f} Y0", "G1 F6000"]
    for i in range(1, steps + 1):
        ang = math.radians(turn_deg * i)
        lines.append(f"G1 X{radius * math.cos(ang):.6f} Y{radius * math.sin(ang):.6f}")
    return "\n".join(lines)


def test_marlin_small_segments_are_taken_as_arcs() -> None:
    # a huge junction deviation leaves only Marlin's short-segment arc limit:
    # v² <= length · a / turn angle at each corner
    cfg = {**MARLIN_JERK, "junction_model": "junction_deviation", "junction_deviation": 1.0}
    corner = math.sqrt(0.5 * 1000 / math.radians(10))
    short = run(polygon(0.5, 10), cfg)
    # between corners a 0.5 mm side can add at most 2·a·d/2 = 500 mm²/s² at its middle
    assert corner < short["max_speed"] <= math.sqrt(corner**2 + 500) + 1e-3
    # sides of 2 mm are not "small segments": the speed is no longer held to that limit
    assert run(polygon(2.0, 10), cfg)["max_speed"] == pytest.approx(100.0)


def test_firmware_retraction() -> None:
    cfg = {**KLIPPER, "firmware_retraction": {"retract_length": 1, "retract_speed": 10,
                                              "unretract_speed": 5, "lift_z": 0}}
    res = run("G10\nG10\nG11", cfg)  # a second G10 while retracted does nothing
    assert res["num_moves"] == 2
    assert res["kind_times"] == {"Firmware retract": pytest.approx(0.1, abs=1e-6),
                                 "Firmware unretract": pytest.approx(0.2, abs=1e-6)}


def test_inches() -> None:
    res = run("G20\nG1 X1 F600\nG21\nG1 X35.4")
    assert res["total_distance"] == pytest.approx(35.4)
