"""Shared fixtures: paths to the shared slicer G-code and a temporary data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_GCODE = REPO.parent / "shared" / "gcode"


@pytest.fixture
def gcode_dir() -> Path:
    """The folder of real slicer output shared by every test (read-only)."""
    assert SHARED_GCODE.is_dir(), f"missing test data: {SHARED_GCODE}"
    return SHARED_GCODE
