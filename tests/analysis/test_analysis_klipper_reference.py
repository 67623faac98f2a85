"""The vectorised Klipper model against a direct transcription of the reference's look-ahead.

`reference_times` follows shared/reference/estimator.md §5.2-5.6 step by step (one move at a
time, the backward pass with its list of delayed moves); the planner must give the same times.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from moonlite.components.analysis.estimator import Estimator
from moonlite.components.analysis.limits import limits_from_config, parse_config
from moonlite.components.analysis.planner import Finalized

CONFIG = {"max_velocity": 200, "max_acceleration": 2000, "minimum_cruise_ratio": 0.5,
          "square_corner_velocity": 5}


def reference_times(points: list[tuple[float, float]], speeds: list[float]) -> list[float]:
    accel, vmax, scv = 2000.0, 200.0, 5.0
    accel_to_decel = accel * 0.5
    jd = scv * scv * (math.sqrt(2) - 1) / accel
    moves: list[dict[str, Any]] = []
    for (x0, y0), (x1, y1), f in zip(points, points[1:], speeds, strict=False):
        d = math.hypot(x1 - x0, y1 - y0)
        v = min(f, vmax)
        mv: dict[str, Any] = {"D": d, "rate": ((x1 - x0) / d, (y1 - y0) / d), "a": accel,
              "max_cruise_v2": v * v, "delta_v2": 2 * d * accel,
              "smooth_delta_v2": 2 * d * accel_to_decel, "max_start_v2": 0.0,
              "max_smoothed_v2": 0.0}
        if moves:
            prev = moves[-1]
            cos = -(mv["rate"][0] * prev["rate"][0] + mv["rate"][1] * prev["rate"][1])
            if cos <= 0.999999:
                cos = max(cos, -0.999999)
                s = math.sqrt(0.5 * (1 - cos))
                r = s / (1 - s)
                tan_half = s / math.sqrt(0.5 * (1 + cos))
                mv["max_start_v2"] = min(
                    mv["max_cruise_v2"], r * jd * accel, r * jd * prev["a"],
                    0.5 * d * tan_half * accel, 0.5 * prev["D"] * tan_half * prev["a"],
                    prev["max_cruise_v2"], prev["max_start_v2"] + prev["delta_v2"])
                mv["max_smoothed_v2"] = min(mv["max_start_v2"],
                                            prev["max_smoothed_v2"] + prev["smooth_delta_v2"])
        moves.append(mv)
    next_end_v2 = next_smoothed_v2 = peak_cruise_v2 = 0.0
    delayed: list[tuple[dict[str, Any], float, float]] = []
    for m in reversed(moves):
        reach_start_v2 = next_end_v2 + m["delta_v2"]
        start_v2 = min(m["max_start_v2"], reach_start_v2)
        reach_smoothed_v2 = next_smoothed_v2 + m["smooth_delta_v2"]
        smoothed_v2 = min(m["max_smoothed_v2"], reach_smoothed_v2)
        if smoothed_v2 < reach_smoothed_v2:
            if smoothed_v2 + m["smooth_delta_v2"] > next_smoothed_v2 or delayed:
                peak_cruise_v2 = min(m["max_cruise_v2"], (smoothed_v2 + reach_smoothed_v2) / 2)
                mc = peak_cruise_v2
                for dm, ds, de in reversed(delayed):
                    mc = min(mc, ds)
                    dm["profile"] = (min(ds, mc), mc, min(de, mc))
                delayed = []
            cruise_v2 = min((start_v2 + reach_start_v2) / 2, m["max_cruise_v2"], peak_cruise_v2)
            m["profile"] = (min(start_v2, cruise_v2), cruise_v2, min(next_end_v2, cruise_v2))
        else:
            delayed.append((m, start_v2, next_end_v2))
        next_end_v2, next_smoothed_v2 = start_v2, smoothed_v2
    times = []
    for m in moves:
        vs, vc, ve = (math.sqrt(x) for x in m["profile"])
        accel_d = (vc * vc - vs * vs) / (2 * m["a"])
        decel_d = (vc * vc - ve * ve) / (2 * m["a"])
        cruise_d = max(0.0, m["D"] - accel_d - decel_d)
        times.append((vc - vs) / m["a"] + cruise_d / vc + (vc - ve) / m["a"])
    return times


def planner_times(points: list[tuple[float, float]], speeds: list[float]) -> list[float]:
    est = Estimator(limits_from_config(parse_config(CONFIG)))
    got: list[Finalized] = []
    est.planner.sink = got.append
    lines = [f"G92 X{points[0][0]!r} Y{points[0][1]!r}"]
    for (x, y), f in zip(points[1:], speeds, strict=False):
        lines.append(f"G1 X{x!r} Y{y!r} F{f * 60!r}")
    est.feed_lines(lines)
    est.finish()
    return [t for fin in got for t in fin.time.tolist()]


@pytest.mark.parametrize("seed", range(12))
def test_matches_the_reference_lookahead(seed: int) -> None:
    rnd = random.Random(seed)
    points = [(0.0, 0.0)]
    heading = 0.0
    for _ in range(150):
        heading += rnd.choice([0.0, 0.0, rnd.uniform(-0.4, 0.4), rnd.uniform(-2.5, 2.5)])
        length = rnd.choice([rnd.uniform(0.05, 1.0), rnd.uniform(1.0, 30.0)])
        x, y = points[-1]
        points.append((x + length * math.cos(heading), y + length * math.sin(heading)))
    speeds = [rnd.choice([30.0, 80.0, 150.0, 250.0]) for _ in points[1:]]
    expected = reference_times(points, speeds)
    assert planner_times(points, speeds) == pytest.approx(expected, rel=1e-6, abs=1e-9)
