"""Accuracy on real slicer output: within ±3% of PrusaSlicer's own (Marlin-model) estimate."""

from __future__ import annotations

import re
from pathlib import Path

import moonlite.components.analysis.estimator as estimator
import pytest
from moonlite.components.analysis.estimator import estimate_file
from moonlite.components.analysis.limits import parse_config

FILES = ["hexnut_marlin2.gcode", "torus_marlin.gcode", "cone_marlin2_thumbs.gcode",
         "sphere_fine.gcode"]
UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def slicer_estimate(path: Path) -> float:
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("; estimated printing time (normal mode) = "):
            text = line.partition(" = ")[2]
            return float(sum(int(v) * UNITS[u] for v, u in re.findall(r"(\d+)([dhms])", text)))
    raise AssertionError(f"{path.name} has no slicer estimate")


@pytest.mark.parametrize("name", FILES)
def test_total_within_three_percent_of_the_slicer(gcode_dir: Path, name: str) -> None:
    path = gcode_dir / name
    est = estimate_file(path)
    assert est.limits_source == "file"
    expected = slicer_estimate(path)
    total = est.result["total_time"]
    assert abs(total - expected) / expected < 0.03, (total, expected)


@pytest.mark.parametrize("name", FILES)
def test_layer_times_add_up(gcode_dir: Path, name: str) -> None:
    est = estimate_file(gcode_dir / name)
    res = est.result
    layers = sum(t for _, t in res["layer_times"])
    assert layers == pytest.approx(
        res["total_time"] - res["total_z_time"] - est.indeterminate_time, rel=1e-9
    )
    zs = [z for z, _ in res["layer_times"]]
    assert zs == sorted(zs)
    assert sum(res["kind_times"].values()) == pytest.approx(res["total_time"], rel=1e-9)
    phases = sum(res["phase_times"].values())
    moving = res["total_output_time"] + res["total_travel_time"] + res["total_extrude_only_time"]
    assert phases == pytest.approx(moving, rel=1e-9)


def test_statistics_of_a_known_file(gcode_dir: Path) -> None:
    res = estimate_file(gcode_dir / "hexnut_marlin2.gcode").result
    assert set(res) == {
        "total_time", "total_distance", "total_extrude_distance", "max_flow", "max_speed",
        "num_moves", "total_z_time", "total_output_time", "total_travel_time",
        "total_extrude_only_time", "phase_times", "kind_times", "layer_times",
    }
    # PrusaSlicer: "filament used [mm] = 25.52"; its start retract of 2 mm precedes a G92 E0
    assert res["total_extrude_distance"] == pytest.approx(25.52 - 2.0, abs=0.01)
    assert res["max_speed"] == pytest.approx(130.0)  # travel F7800
    assert {"Perimeter", "External perimeter", "Solid infill", "Skirt/Brim"} <= set(
        res["kind_times"]
    )
    assert res["layer_times"][0][0] == pytest.approx(0.35)
    assert 0 < res["max_flow"] < 30


def test_batches_do_not_change_the_result(gcode_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = gcode_dir / "cone_marlin2_thumbs.gcode"
    whole = estimate_file(path).result
    monkeypatch.setattr(estimator, "BATCH_MOVES", 1100)
    monkeypatch.setattr(estimator, "CHUNK", 1 << 13)
    cut = estimate_file(path).result
    assert cut["num_moves"] == whole["num_moves"]
    assert cut["total_time"] == pytest.approx(whole["total_time"], rel=1e-9)
    flat = [v for pair in cut["layer_times"] for v in pair]
    assert flat == pytest.approx([v for pair in whole["layer_times"] for v in pair], rel=1e-9)


def test_batches_do_not_change_the_klipper_model(
    gcode_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse_config({"max_velocity": 300, "max_acceleration": 3000,
                           "minimum_cruise_ratio": 0.5, "square_corner_velocity": 5})
    path = gcode_dir / "sphere_fine.gcode"
    whole = estimate_file(path, config).result
    monkeypatch.setattr(estimator, "BATCH_MOVES", 1100)
    cut = estimate_file(path, config).result
    # a run of braking moves cut by a batch edge may lose its leader's peak: a few µs at most
    assert cut["total_time"] == pytest.approx(whole["total_time"], rel=1e-5)
