"""Metadata of the fixture files written the way each other slicer writes its comments."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from moonlite.components.files.metadata import GcodeSource, extract_metadata, identify
from PIL import Image

FIXTURES = Path(__file__).resolve().parent / "fixtures"

EXPECTED: dict[str, dict[str, Any]] = {
    "superslicer.gcode": {
        "slicer": "SuperSlicer",
        "slicer_version": "2.5.59.2",
        "estimated_time": 5025,  # 1h 23m 45s
        "filament_total": 1523.45,
        "filament_weight_total": 4.54,
        "layer_height": 0.2,
        "first_layer_height": 0.25,  # 125% of 0.2
        "object_height": 1.05,
        "layer_count": 5,
        "first_layer_extr_temp": 215.0,
        "first_layer_bed_temp": 60.0,
        "nozzle_diameter": 0.4,
        "filament_name": "Generic PLA @SuperSlicer",
        "filament_type": "PLA",
        "filament_colors": ["#FF8000"],
        "filament_temps": [210],
    },
    "orcaslicer.gcode": {
        "slicer": "OrcaSlicer",
        "slicer_version": "2.1.1",
        "estimated_time": 2527,  # 42m 7s
        "filament_total": 2345.67,
        "filament_weight_total": 7.05,
        "layer_height": 0.16,
        "first_layer_height": 0.2,  # initial_layer_print_height
        "object_height": 0.68,
        "layer_count": 4,
        "first_layer_extr_temp": 235.0,  # nozzle_temperature_initial_layer
        "first_layer_bed_temp": 65.0,  # the Textured PEI Plate's, not the hot plate's 70
        "nozzle_diameter": 0.4,
        "filament_name": "Generic PETG @System",
        "filament_type": "PETG",
        "chamber_temp": 0.0,
    },
    "bambustudio.gcode": {
        "slicer": "BambuStudio",
        "slicer_version": "01.09.05.51",
        "estimated_time": 4090,  # total estimated time: 1h 8m 10s
        "filament_total": 3210.55,
        "filament_weight_total": 9.65,
        "layer_height": 0.2,
        "first_layer_height": 0.2,
        "object_height": 1.2,  # max_z_height, not the end G-code's Z101.2
        "layer_count": 6,
        "first_layer_extr_temp": 220.0,
        "first_layer_bed_temp": 55.0,
        "nozzle_diameter": 0.4,
        "filament_name": "Bambu PLA Basic @BBL X1C",
        "filament_type": "PLA",
    },
    "cura.gcode": {
        "slicer": "Cura",
        "slicer_version": "5.7.1",
        "estimated_time": 5472.0,
        "filament_total": 3123.45,  # 3.12345 m
        "filament_weight_total": 9.31,
        "layer_height": 0.2,
        "first_layer_height": 0.2,  # MINZ
        "object_height": 1.0,  # MAXZ
        "layer_count": 5,
        "first_layer_extr_temp": 200.0,
        "first_layer_bed_temp": 60.0,
        "nozzle_diameter": 0.4,
        "filament_name": "Generic PLA",
        "filament_type": "PLA",
    },
    "simplify3d_v4.gcode": {
        "slicer": "Simplify3D",
        "slicer_version": "4.1.2",
        "estimated_time": 4320,  # 1 hours 12 minutes
        "filament_total": 2514.8,
        "filament_weight_total": 7.5,
        "layer_height": 0.2,
        "first_layer_height": 0.25,  # 125%
        "object_height": 1.05,  # the last layer, not the end G-code's Z11.05
        "first_layer_extr_temp": 210.0,
        "first_layer_bed_temp": 60.0,
        "nozzle_diameter": 0.4,
        "filament_name": "PLA",
    },
    "simplify3d_v5.gcode": {
        "slicer": "Simplify3D",
        "slicer_version": "5.1.2",
        "estimated_time": 7530,  # 2 hours 5 minutes 30 seconds
        "filament_total": 3050.2,
        "filament_weight_total": 9.23,
        "layer_height": 0.15,
        "first_layer_height": 0.3,  # 200%
        "object_height": 0.75,
        "first_layer_extr_temp": 240.0,
        "first_layer_bed_temp": 85.0,
        "nozzle_diameter": 0.6,
        "filament_name": "PETG",
    },
    "kisslicer.gcode": {
        "slicer": "KISSlicer",
        "slicer_version": "2.0.10",
        "estimated_time": 2308.2,  # 38.47 minutes
        "filament_total": 1834.52,
        "layer_height": 0.2,
        "first_layer_height": 0.3,
        "object_height": 1.1,
        "layer_count": 5,
        "first_layer_extr_temp": 215.0,
        "first_layer_bed_temp": 60.0,
        "chamber_temp": 0.0,
        "nozzle_diameter": 0.4,
        "filament_name": "PLA Silver",
    },
    "ideamaker.gcode": {
        "slicer": "IdeaMaker",
        "slicer_version": "4.4.1.6170",
        "estimated_time": 2711.0,
        "filament_total": 1912.34,
        # pi/4 * 1.75^2 mm^2 * 1912.34 mm * 1.24 g/cm^3
        "filament_weight_total": round(math.pi / 4 * 1.75**2 * 1912.34 * 1.24 / 1000, 6),
        "layer_height": 0.21,
        "first_layer_height": 0.3,
        "object_height": 1.15,
        "layer_count": 5,
        "first_layer_extr_temp": 210.0,
        "first_layer_bed_temp": 60.0,
        "nozzle_diameter": 0.4,
        "filament_name": "Raise3D Premium PLA",
        "filament_type": "PLA",
    },
    "slic3r_pe.gcode": {
        "slicer": "Slic3r PE",
        "slicer_version": "1.41.3+linux64",
        "estimated_time": 2859,  # 47m 39s
        "filament_total": 1456.7,
        "filament_weight_total": 4.3,
        "layer_height": 0.2,
        "first_layer_height": 0.2,
        "object_height": 1.0,
        "first_layer_extr_temp": 215.0,
        "first_layer_bed_temp": 60.0,
        "nozzle_diameter": 0.4,
        "filament_name": "Prusament PLA",
        "filament_type": "PLA",
    },
    "slic3r.gcode": {
        "slicer": "Slic3r",
        "slicer_version": "1.3.0",
        "filament_total": 987.6,
        "layer_height": 0.3,
        "first_layer_height": 0.35,
        "object_height": 1.25,
        "first_layer_extr_temp": 205.0,
        "first_layer_bed_temp": 60.0,
        "nozzle_diameter": 0.4,
    },
    "prusaslicer_qoi_jpg.gcode": {
        "slicer": "PrusaSlicer",
        "slicer_version": "2.6.1+linux-x64-GTK3",
        "estimated_time": 182,
        "filament_total": 310.25,
        "filament_weight_total": 0.93,
        "layer_height": 0.2,
        "first_layer_height": 0.2,
        "object_height": 0.6,
        "layer_count": 3,
    },
    "icesl.gcode": {
        "slicer": "IceSL",
        "slicer_version": "2.5.1",
        "estimated_time": 1877.0,
        "filament_total": 1321.5,
        "filament_weight_total": 3.94,
        "layer_height": 0.2,
        "first_layer_height": 0.3,
        "object_height": 1.1,
        "layer_count": 5,
        "first_layer_extr_temp": 210.0,
        "first_layer_bed_temp": 60.0,
        "chamber_temp": 0.0,
        "nozzle_diameter": 0.4,
        "filament_name": "PLA Generic",
        "filament_type": "PLA",
    },
    "kirimoto.gcode": {
        "slicer": "Kiri:Moto",
        "slicer_version": "4.1.2",
        "estimated_time": 2345,
        "filament_total": 1432.8,
        "layer_height": 0.2,
        "first_layer_height": 0.25,
        "object_height": 1.05,  # not the end G-code's Z11.05
        "layer_count": 5,
        "first_layer_extr_temp": 215.0,
        "first_layer_bed_temp": 60.0,
    },
    "unknown.gcode": {
        "slicer": "Unknown",
        "slicer_version": "?",
        "first_layer_height": 0.28,
        "object_height": 2.08,  # the last extruding layer, not the end G-code's Z12.08 lift
        "first_layer_extr_temp": 205.0,
        "first_layer_bed_temp": 55.0,
    },
}

# (width, height, relative path) in the order reported; a 32x32 miniature comes first
THUMBNAILS: dict[str, list[tuple[int, int, str]]] = {
    "superslicer.gcode": [(32, 32, "superslicer-32x32.png"), (400, 300, "superslicer-400x300.png")],
    "orcaslicer.gcode": [(32, 32, "orcaslicer-32x32.png"), (300, 300, "orcaslicer-300x300.png")],
    "cura.gcode": [(32, 32, "cura-32x32.png"), (300, 300, "cura-300x300.png")],
    "prusaslicer_qoi_jpg.gcode": [
        (32, 18, "prusaslicer_qoi_jpg-32x32.png"),  # from the 220x124 JPG, aspect kept
        (16, 16, "prusaslicer_qoi_jpg-16x16.png"),  # QOI converted to PNG
        (220, 124, "prusaslicer_qoi_jpg-220x124.jpg"),
    ],
    "unknown.gcode": [(32, 32, "unknown-32x32.png"), (48, 48, "unknown-48x48.png")],
}


def test_every_fixture_has_expectations() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.gcode")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_slicer_fixture(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    shutil.copy(FIXTURES / name, path)

    metadata = extract_metadata(path, tmp_path / ".thumbs")

    assert {k: metadata.get(k) for k in EXPECTED[name]} == EXPECTED[name]
    data = path.read_bytes()
    start, end = metadata["gcode_start_byte"], metadata["gcode_end_byte"]
    assert data[start + 1 : start + 2] in (b"G", b"M")
    assert data[end - 1 : end] == b"\n"
    expected_thumbs = THUMBNAILS.get(name, [])
    reported = [
        (t["width"], t["height"], t["relative_path"]) for t in metadata.get("thumbnails", [])
    ]
    assert reported == [(w, h, f".thumbs/{file}") for w, h, file in expected_thumbs]
    for thumb in metadata.get("thumbnails", []):
        thumb_path = tmp_path / thumb["relative_path"]
        assert thumb_path.stat().st_size == thumb["size"]
        with Image.open(thumb_path) as image:
            assert image.size == (thumb["width"], thumb["height"])
            assert image.format == ("JPEG" if thumb_path.suffix == ".jpg" else "PNG")


@pytest.mark.parametrize(
    ("header", "slicer", "version"),
    [
        (b"; generated by QIDISlicer 1.1.0 on 2024-01-01 at 10:00:00 UTC\n", "QIDISlicer", "1.1.0"),
        (b"; generated by BambuStudio 01.08.00.57 on 2024-01-01 at 10:00:00\n", "BambuStudio",
         "01.08.00.57"),
        (b"; SuperSlicer 2.3.57 on 2021-01-01 at 10:00:00\n", "SuperSlicer", "2.3.57"),
        (b";START_OF_HEADER\n;GENERATOR.NAME:Cura_SteamEngine\n;GENERATOR.VERSION:5.4.0\n"
         b";END_OF_HEADER\n;Generated with Cura_SteamEngine 5.4.0\n", "Cura", "5.4.0"),
        (b"; KISSlicer - FREE\n; version 1.6.3 Linux\n", "KISSlicer", "1.6.3-Linux"),
        (b"; just a comment\n", "Unknown", "?"),
    ],
)
def test_identification(header: bytes, slicer: str, version: str) -> None:
    detected = identify(GcodeSource.from_bytes(header + b"G28\nG1 X1 Y1 E1\n"))
    assert (detected.name, detected.version) == (slicer, version)


def test_cura_griffin_header(tmp_path: Path) -> None:
    path = tmp_path / "um.gcode"
    path.write_bytes(
        b";START_OF_HEADER\n;HEADER_VERSION:0.1\n;FLAVOR:Griffin\n"
        b";GENERATOR.NAME:Cura_SteamEngine\n;GENERATOR.VERSION:5.4.0\n"
        b";TARGET_MACHINE.NAME:Ultimaker S5\n;EXTRUDER_TRAIN.0.INITIAL_TEMPERATURE:215\n"
        b";EXTRUDER_TRAIN.0.MATERIAL.VOLUME_USED:2405\n;EXTRUDER_TRAIN.0.NOZZLE.DIAMETER:0.4\n"
        b";BUILD_PLATE.INITIAL_TEMPERATURE:60\n;PRINT.TIME:3725\n;PRINT.SIZE.MAX.Z:12.3\n"
        b";END_OF_HEADER\n;Generated with Cura_SteamEngine 5.4.0\n"
        b"T0\nM82 ;absolute extrusion mode\nG92 E0\nM109 S215\n;LAYER_COUNT:62\n;LAYER:0\n"
        b"G1 X1 Y1 Z0.27 E1\nM104 S0\n"
    )
    metadata = extract_metadata(path, None)
    assert metadata["slicer"] == "Cura"
    assert metadata["estimated_time"] == 3725.0
    assert metadata["first_layer_extr_temp"] == 215.0
    assert metadata["first_layer_bed_temp"] == 60.0
    assert metadata["nozzle_diameter"] == 0.4
    assert metadata["object_height"] == 12.3
    assert metadata["layer_count"] == 62
    # 2405 mm^3 of 1.75 mm filament
    assert metadata["filament_total"] == pytest.approx(2405 / (math.pi * 0.875**2), abs=0.01)


def test_multi_material_prusa_lists(tmp_path: Path) -> None:
    path = tmp_path / "mmu.gcode"
    path.write_bytes(
        b"; generated by PrusaSlicer 2.7.1 on 2024-01-01 at 10:00:00 UTC\n\nG28\n"
        b"G1 X1 Y1 Z0.2 E1\n"
        b"; filament used [mm] = 100.5, 200.25\n; filament used [g] = 0.30, 0.60\n"
        b"; total filament used [g] = 0.90\n; total toolchanges = 12\n"
        b'; filament_settings_id = "Prusament PLA";"Prusament PETG"\n'
        b"; filament_type = PLA;PETG\n; filament_colour = #FF0000;#00FF00\n"
        b"; temperature = 215,240\n; referenced_tools = 0,1\n; single_extruder_multi_material = 1\n"
    )
    metadata = extract_metadata(path, None)
    assert metadata["filament_total"] == 300.75
    assert metadata["filament_weights"] == [0.3, 0.6]
    assert metadata["filament_weight_total"] == 0.9
    assert metadata["filament_change_count"] == 12
    assert metadata["filament_name"] == '["Prusament PLA", "Prusament PETG"]'
    assert metadata["filament_type"] == '["PLA", "PETG"]'
    assert metadata["filament_colors"] == ["#FF0000", "#00FF00"]
    assert metadata["filament_temps"] == [215, 240]
    assert metadata["referenced_tools"] == [0, 1]
    assert metadata["mmu_print"] == 1


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_windows_line_endings_give_the_same_values(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes((FIXTURES / name).read_bytes().replace(b"\n", b"\r\n"))
    metadata = extract_metadata(path, tmp_path / ".thumbs")
    assert {k: metadata.get(k) for k in EXPECTED[name]} == EXPECTED[name]
    assert len(metadata.get("thumbnails", [])) == len(THUMBNAILS.get(name, []))
