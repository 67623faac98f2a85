"""The SD card over a real pty: listing with long names, printing, autoreport, upload, delete."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import Factory

from moonlite.testing import gcode_command_lines


@pytest.fixture
def card(tmp_path: Path, gcode_dir: Path) -> Path:
    root = tmp_path / "sd"
    (root / "parts").mkdir(parents=True)
    shutil.copy(gcode_dir / "hexnut_marlin2.gcode", root / "Hex Nut (Marlin 2).gcode")
    (root / "TEST.GCO").write_text("G28\nG1 X5 ; move\n\nM400\n")
    (root / "parts" / "cube.gcode").write_text("G1 X1\n")
    (root / "notes.txt").write_text("not g-code\n")
    return root


async def test_m20_lists_short_and_long_names(served: Factory, card: Path) -> None:
    _server, host = await served(sd_dir=card)
    await host.handshake()
    lines = await host.command("M20 L T")
    assert lines[0] == "Begin file list" and lines[-2] == "End file list"
    entries = {line.split(" ", 1)[0]: line for line in lines[1:-2]}
    size = (card / "Hex Nut (Marlin 2).gcode").stat().st_size
    hexnut = entries["HEXNUT~1.GCO"]
    assert hexnut.startswith(f"HEXNUT~1.GCO {size} 0x")
    assert hexnut.endswith(" Hex Nut (Marlin 2).gcode")
    assert entries["TEST.GCO"].endswith(" TEST.GCO")
    assert entries["PARTS/CUBE~1.GCO"].endswith(" parts/cube.gcode")
    assert not any("NOTES" in name for name in entries)
    plain = await host.command("M20")
    assert f"HEXNUT~1.GCO {size}" in plain


async def test_sd_print_runs_the_file(served: Factory, card: Path) -> None:
    server, host = await served(sd_dir=card, time_scale=0.005, interval_scale=0.02)
    await host.handshake()
    assert await host.command("M23 HEXNUT~1.GCO") == [
        f"File opened: HEXNUT~1.GCO Size: {(card / 'Hex Nut (Marlin 2).gcode').stat().st_size}",
        "File selected",
        "ok N1 P15 B3",
    ]
    await host.command("M27 S1")
    await host.command("M24")
    lines = await host.until("Done printing file", timeout=20)
    assert any(line.startswith("SD printing byte ") for line in lines)
    executed = server.printer.executed
    start = executed.index("M24") + 1
    assert executed[start:] == gcode_command_lines(card / "Hex Nut (Marlin 2).gcode")
    assert await host.command("M27") == ["Not SD printing", "ok N4 P15 B3"]
    # constant-velocity moves: close to (a little under) PrusaSlicer's 1m 1s estimate
    assert 40.0 < server.printer.print_time < 61.0


async def test_sd_pause_resume_and_position(served: Factory, card: Path) -> None:
    server, host = await served(sd_dir=card)
    await host.handshake()
    await host.command("M23 test.gco")
    await host.command("M26 S4")  # skip "G28\n"
    await host.command("M24")
    await host.until("Done printing file")
    assert server.printer.executed[-2:] == ["G1 X5", "M400"]


async def test_m28_m29_upload_then_delete(served: Factory, card: Path) -> None:
    server, host = await served(sd_dir=card)
    await host.handshake()
    assert await host.command("M28 up.gco") == ["Writing to file: up.gco", "ok N1 P15 B3"]
    await host.command("G1 X1")
    await host.command("G1 X2")
    assert await host.command("M29") == ["Done saving file.", "ok N4 P15 B3"]
    assert (card / "up.gco").read_text() == "G1 X1\nG1 X2\n"
    assert "G1 X1" not in server.printer.executed  # written, not run
    listing = await host.command("M20")
    assert any(line.startswith("UP.GCO ") for line in listing)
    assert await host.command("M30 UP.GCO") == ["File deleted:UP.GCO", "ok N6 P15 B3"]
    assert not (card / "up.gco").exists()
    assert (await host.command("M23 nothing.gco"))[0] == "open failed, File: nothing.gco."
