"""Metadata of the real PrusaSlicer files in shared/gcode, big files, and hostile content."""

from __future__ import annotations

import base64
import io
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moonlite.components.files.metadata import (
    READ_SIZE,
    GcodeSource,
    extract_metadata,
    metadata_from_source,
    slicer_fields,
)
from PIL import Image

BASIC_FIELDS = {"size", "modified", "uuid", "file_processors", "slicer", "slicer_version"}

# what PrusaSlicer 2.5.0 wrote into each file (checked by hand against the files' comments)
EXPECTED: dict[str, dict[str, Any]] = {
    "hexnut_marlin2.gcode": {
        "estimated_time": 61,  # 1m 1s
        "filament_total": 25.52,
        "layer_height": 0.15,
        "object_height": 1.85,  # last `;Z:` marker (the start G-code's `G1 Z5` lift is not it)
        "layer_count": 11,
    },
    "torus_marlin.gcode": {
        "estimated_time": 414,  # 6m 54s
        "filament_total": 521.74,
        "layer_height": 0.2,
        "object_height": 5.75,
        "layer_count": 28,
    },
    "cone_marlin2_thumbs.gcode": {
        "estimated_time": 755,  # 12m 35s
        "filament_total": 1083.85,
        "layer_height": 0.3,
        "object_height": 24.65,
        "layer_count": 82,
    },
    "sphere_fine.gcode": {
        "estimated_time": 3094,  # 51m 34s
        "filament_total": 2381.44,
        "layer_height": 0.1,
        "object_height": 30.95,
        "layer_count": 307,
    },
}
COMMON = {
    "slicer": "PrusaSlicer",
    "slicer_version": "2.5.0",
    "first_layer_height": 0.35,
    "first_layer_extr_temp": 200.0,
    "first_layer_bed_temp": 0.0,
    "nozzle_diameter": 0.4,
    "filament_weight_total": 0.0,  # filament_density = 0 in these profiles
    "filament_type": "PLA",
    "filament_colors": ["#29B2B2"],
    "filament_temps": [200],
    "gcode_start_byte": 304,
}


def _written(text: str, key: str) -> str:
    """The value of a `; key = value` comment line, read independently of the extractor."""
    match = re.search(rf"^; {re.escape(key)} = (.*)$", text, re.M)
    assert match, key
    return match.group(1)


def _seconds(duration: str) -> int:
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([dhms])", duration))


def png_block(width: int, height: int) -> str:
    """A PrusaSlicer-style `; thumbnail begin` block holding a real PNG."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    encoded = base64.b64encode(out.getvalue()).decode()
    lines = "\n".join(f"; {encoded[i:i + 78]}" for i in range(0, len(encoded), 78))
    return f";\n; thumbnail begin {width}x{height} {len(encoded)}\n{lines}\n; thumbnail end\n;\n"


def assert_thumbnails_valid(metadata: dict[str, Any], folder: Path) -> None:
    """Every reported thumbnail exists, has the reported byte size and pixel size."""
    for thumb in metadata["thumbnails"]:
        path = folder / thumb["relative_path"]
        assert path.stat().st_size == thumb["size"]
        with Image.open(path) as image:
            assert image.size == (thumb["width"], thumb["height"])
            expected = "JPEG" if path.suffix == ".jpg" else "PNG"
            assert image.format == expected


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_prusaslicer_files(name: str, gcode_dir: Path, tmp_path: Path) -> None:
    source = gcode_dir / name
    text = source.read_text()
    path = tmp_path / name
    shutil.copy(source, path)

    metadata = extract_metadata(path, tmp_path / ".thumbs")

    assert BASIC_FIELDS <= metadata.keys()
    assert metadata["size"] == path.stat().st_size
    assert metadata["modified"] == path.stat().st_mtime
    assert metadata["file_processors"] == []
    assert {k: metadata.get(k) for k in EXPECTED[name]} == EXPECTED[name]
    assert {k: metadata.get(k) for k in COMMON} == COMMON
    # the same facts read straight from the slicer's comments
    assert metadata["estimated_time"] == _seconds(
        _written(text, "estimated printing time (normal mode)")
    )
    assert metadata["filament_total"] == float(_written(text, "filament used [mm]"))
    assert metadata["layer_height"] == float(_written(text, "layer_height"))
    assert metadata["first_layer_height"] == float(_written(text, "first_layer_height"))
    assert metadata["layer_count"] == text.count("\n;LAYER_CHANGE")
    assert metadata["object_height"] == float(re.findall(r"^;Z:(.*)$", text, re.M)[-1])
    # these files carry no thumbnails (the slicer's CLI renders none without a display)
    assert "thumbnails" not in metadata
    assert not (tmp_path / ".thumbs").exists()
    assert "filename" not in metadata  # the caller's job


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_start_and_end_bytes_frame_the_commands(name: str, gcode_dir: Path) -> None:
    data = (gcode_dir / name).read_bytes()
    metadata = metadata_from_source(GcodeSource.from_bytes(data), "x", None)
    start, end = metadata["gcode_start_byte"], metadata["gcode_end_byte"]
    assert data[start : start + 1] == b"\n"
    assert re.match(rb"[GM]\d", data[start + 1 : start + 3])
    assert not re.search(rb"^[GM]\d", data[:start], re.M)
    assert data[end - 1 : end] == b"\n"
    assert not re.search(rb"^[GM]\d", data[end:], re.M)
    assert data[end:].startswith(b"; filament used [mm]")


def test_injected_thumbnails_of_a_real_file(gcode_dir: Path, tmp_path: Path) -> None:
    # what the cone file would hold had the slicer rendered its `--thumbnails 32x32,300x300`
    text = (gcode_dir / "cone_marlin2_thumbs.gcode").read_text()
    head, _, rest = text.partition("\n; external perimeters")
    path = tmp_path / "cone.gcode"
    path.write_text(head + "\n" + png_block(32, 32) + png_block(300, 300) + "; external perimeters"
                    + rest)

    metadata = extract_metadata(path, tmp_path / ".thumbs")

    assert [(t["width"], t["height"]) for t in metadata["thumbnails"]] == [(32, 32), (300, 300)]
    assert [t["relative_path"] for t in metadata["thumbnails"]] == [
        ".thumbs/cone-32x32.png",
        ".thumbs/cone-300x300.png",
    ]
    assert_thumbnails_valid(metadata, tmp_path)
    assert metadata["estimated_time"] == 755
    assert metadata["layer_count"] == 82
    # nothing but the thumbnails is left in the folder (no temporary files)
    assert sorted(p.name for p in (tmp_path / ".thumbs").iterdir()) == [
        "cone-300x300.png",
        "cone-32x32.png",
    ]


def test_thumbnail_png_tag_and_permissions(tmp_path: Path) -> None:
    # PrusaSlicer 2.6+ names the format in the tag when asked for `16x16/PNG`
    block = png_block(16, 16).replace("thumbnail begin", "thumbnail_PNG begin")
    block = block.replace("thumbnail end", "thumbnail_PNG end")
    path = tmp_path / "tagged.gcode"
    path.write_text(block + png_block(32, 32) + "G28\nG1 Z0.2\nG1 X1 Y1 E1\n")
    metadata = extract_metadata(path, tmp_path / ".thumbs")
    assert [(t["width"], t["height"]) for t in metadata["thumbnails"]] == [(16, 16), (32, 32)]
    assert_thumbnails_valid(metadata, tmp_path)
    for thumb in metadata["thumbnails"]:
        mode = (tmp_path / thumb["relative_path"]).stat().st_mode & 0o777
        assert mode == 0o644  # readable by the web server, whoever runs it


def test_no_miniature_from_smaller_thumbnails(tmp_path: Path) -> None:
    path = tmp_path / "small.gcode"
    path.write_text(png_block(16, 16) + png_block(24, 24) + "G28\nG1 Z0.2\nG1 X1 Y1 E1\n")
    metadata = extract_metadata(path, tmp_path / ".thumbs")
    assert [(t["width"], t["height"]) for t in metadata["thumbnails"]] == [(16, 16), (24, 24)]
    assert not (tmp_path / ".thumbs" / "small-32x32.png").exists()


def test_a_symlinked_thumbs_dir_is_not_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "gcodes"
    root.mkdir()
    (root / ".thumbs").symlink_to(outside)
    path = root / "t.gcode"
    path.write_text(png_block(32, 32) + "G28\nG1 Z0.2\nG1 X1 Y1 E1\n")
    metadata = extract_metadata(path, root / ".thumbs")
    assert "thumbnails" not in metadata
    assert list(outside.iterdir()) == []


def test_no_thumbs_dir_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.gcode"
    path.write_text("; generated by PrusaSlicer 2.7.0 on 2024-01-01 at 10:00:00 UTC\n"
                    + png_block(32, 32) + "G28\nG1 Z0.2\nG1 X1 Y1 E1\n")
    metadata = extract_metadata(path, None)
    assert "thumbnails" not in metadata
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.gcode"]


def test_a_big_file_is_read_at_its_head_and_tail_only(gcode_dir: Path, tmp_path: Path) -> None:
    text = (gcode_dir / "sphere_fine.gcode").read_bytes()
    # pad the middle with 3 MiB of extra moves: the totals at the end must still be found
    split = text.index(b";LAYER_CHANGE\n;Z:15")
    padding = b"G1 X100 Y100 E1\n" * (3 * READ_SIZE // 16)
    path = tmp_path / "big.gcode"
    path.write_bytes(text[:split] + padding + text[split:])

    source = GcodeSource.read(path)
    assert len(source.head) == READ_SIZE and len(source.tail) == READ_SIZE
    assert not source.whole

    metadata = extract_metadata(path, None)
    size = path.stat().st_size
    assert metadata["size"] == size
    assert metadata["estimated_time"] == 3094
    assert metadata["filament_total"] == 2381.44
    assert metadata["object_height"] == 30.95
    assert metadata["gcode_start_byte"] == 304
    assert metadata["gcode_end_byte"] == size - (len(text) - 1396219)
    # PrusaSlicer 2.5 writes no layer count and the middle of the file was not read
    assert "layer_count" not in metadata


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\n",
        b"\x00" * 5000,
        b"\xff\xfe garbage \x00\x01\n; thumbnail begin 10x10 8\n; !!!!\n; thumbnail end\n",
        b"; thumbnail begin 300x300 12\n; AAAAAAAAAAAA\n; thumbnail end\nG28\n",  # not an image
        b"; thumbnail_QOI begin 16x16 8\n; AAAAAAAA\n; thumbnail_QOI end\nG28\n",  # bad QOI
        b"; thumbnail begin 16x16 999\n; AAAA\n; thumbnail end\nG28\n",  # wrong length
        b"; thumbnail begin 16x16 4\n; AAAA\n",  # never ends
        b"; generated by PrusaSlicer on 2024-01-01 at 10:00:00\nG28\n; layer_height = x\n",
        b"; generated by OrcaSlicer 2.0 on 2024-01-01 at 10:00:00\n; first_layer_height = 5%\n",
        b";FLAVOR:Marlin\n;TIME:abc\n;Generated with Cura_SteamEngine 5\nM109 S\n;LAYER_COUNT:\n",
        b"; G-Code generated by Simplify3D(R) Version 5\n;   temperatureController,x\n",
        b"; KISSlicer\n; version\n;    Ext #1 = mm\n",
        b";Sliced by ideaMaker 4, x\n;Bounding Box: - -\n;LAYER:0\n;HEIGHT:.\n",
        b"G1 Z\nG1 X1 E1\nG1 Z1 X E\n" * 10,
    ],
)
def test_garbage_never_raises(content: bytes, tmp_path: Path,
                              caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "junk.gcode"
    path.write_bytes(content)
    with caplog.at_level(logging.ERROR):
        metadata = extract_metadata(path, tmp_path / ".thumbs")
    assert BASIC_FIELDS <= metadata.keys()
    assert metadata["size"] == len(content)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    for thumb in metadata.get("thumbnails", []):
        assert (tmp_path / thumb["relative_path"]).is_file()


def test_random_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "random.gcode"
    path.write_bytes(os.urandom(3 * READ_SIZE))
    metadata = extract_metadata(path, tmp_path / ".thumbs")
    assert metadata["slicer"] == "Unknown"
    assert metadata["size"] == 3 * READ_SIZE


def test_a_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        extract_metadata(tmp_path / "nope.gcode", None)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([
    b"; generated by PrusaSlicer 2.6 on 2024-01-01 at 10:00:00\n", b"G1 Z0.2 F100\n",
    b"G1 X1 Y2 E0.5\n", b";Z:0.4\n", b";LAYER_CHANGE\n", b"; layer_height = 0.2\n",
    b"; first_layer_height = 50%\n", b"; estimated printing time (normal mode) = 1h 2m\n",
    b"; filament used [mm] = 1,2\n", b"M109 S200\n", b"M190 S\n", b"; thumbnail begin 4x4 4\n",
    b"; AAAA\n", b"; thumbnail end\n", b";TIME:12\n", b"Cura_SteamEngine 5\n", b"\x00\xff",
    b"; BambuStudio 1\n", b"; total layer number: \n", b"; HEADER_BLOCK_START\n",
    b"Simplify3D(R) Version 4\n", b";   temperatureName,Extruder 1\n", b"; KISSlicer\n",
    b" ideaMaker 4,\n", b";LAYER:0\n", b";HEIGHT:0.3\n", b"\n", b"G1 Z", b"E", b"=",
]), max_size=40))
def test_any_mix_of_slicer_lines_parses_without_error(parts: list[bytes]) -> None:
    source = GcodeSource.from_bytes(b"".join(parts))
    fields = slicer_fields(source)  # raises on a parser bug (extract_metadata would log it)
    assert fields["slicer"]
    for number in ("estimated_time", "layer_height", "object_height", "filament_total"):
        assert fields.get(number) is None or fields[number] >= 0
