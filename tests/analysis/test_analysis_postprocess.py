"""Post-processing: M73 lines and time comments rewritten, everything else byte-identical."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from moonlite.components.analysis import postprocess
from moonlite.components.analysis.postprocess import (
    MARKER,
    detect_slicer,
    format_dhms,
    previous_processing,
    process_file,
)


def changed_lines(before: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    old, new = before.split(b"\n"), after.split(b"\n")
    assert len(new) == len(old) + 1  # one marker line appended before the final newline
    assert new[-2].startswith(MARKER.encode())
    return [(a, b) for a, b in zip(old[:-1], new[:-2], strict=True) if a != b]


def test_m73_and_time_comment_rewritten_rest_identical(tmp_path: Path, gcode_dir: Path) -> None:
    path = tmp_path / "hexnut.gcode"
    shutil.copy(gcode_dir / "hexnut_marlin2.gcode", path)
    before = path.read_bytes()
    outcome = process_file(path)
    assert outcome.as_dict() == {"prev_processed": False, "version": "v1.0.0", "bypassed": False}
    assert outcome.estimate is not None
    total = outcome.estimate.result["total_time"]
    after = path.read_bytes()
    changes = changed_lines(before, after)
    assert changes, "nothing was rewritten"
    for old, new in changes:
        assert old.startswith((b"M73 ", b"; estimated printing time (")), old
        assert new.split()[0] == old.split()[0]
    text = after.decode()
    assert f"; estimated printing time (normal mode) = {format_dhms(total)}\n" in text
    m73 = [line for line in text.splitlines() if line.startswith("M73 P")]
    percents = [int(line.split()[1][1:]) for line in m73]
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 100
    assert m73[0] == f"M73 P0 R{round(total / 60)}"
    assert m73[-1] == "M73 P100 R0"
    assert "detected slicer PrusaSlicer" in text.splitlines()[-1]


def test_second_call_bypassed_unless_forced(tmp_path: Path, gcode_dir: Path) -> None:
    path = tmp_path / "torus.gcode"
    shutil.copy(gcode_dir / "torus_marlin.gcode", path)
    process_file(path)
    once = path.read_bytes()
    assert previous_processing(path) == "v1.0.0"
    second = process_file(path)
    assert second.as_dict() == {"prev_processed": True, "version": "v1.0.0", "bypassed": True}
    assert path.read_bytes() == once
    forced = process_file(path, force=True)
    assert forced.as_dict() == {"prev_processed": True, "version": "v1.0.0", "bypassed": False}
    # the old marker is replaced, not repeated; the estimate is the same
    assert path.read_bytes() == once


def test_cura_comments_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "cura.gcode"
    lines = [";FLAVOR:Marlin", ";TIME:9999", ";Generated with Cura_SteamEngine 5.0",
             "G1 X100 F6000", ";TIME_ELAPSED:1.0", "G1 X0", ";TIME_ELAPSED:2.0", "M84 ; done"]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    assert detect_slicer(path) == "Cura"
    outcome = process_file(path)
    assert outcome.estimate is not None
    out = path.read_bytes().split(b"\r\n")
    total = outcome.estimate.result["total_time"]
    assert out[1] == f";TIME:{int(-(-total // 1))}".encode()
    first = float(out[4].split(b":")[1])
    second = float(out[6].split(b":")[1])
    assert 0 < first < second == pytest.approx(total)
    assert out[7] == b"M84 ; done"


def test_failed_rewrite_leaves_the_original(
    tmp_path: Path, gcode_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hexnut.gcode"
    shutil.copy(gcode_dir / "hexnut_marlin2.gcode", path)
    before = path.read_bytes()

    def disk_error(fd: int) -> None:  # a failing disk, injected where the write is committed
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(postprocess.os, "fsync", disk_error)
    with pytest.raises(OSError):
        process_file(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hexnut.gcode"]


def test_format_dhms() -> None:
    assert format_dhms(61) == "1m 1s"
    assert format_dhms(3600 * 25 + 61) == "1d 1h 1m 1s"
    assert format_dhms(7) == "7s"
