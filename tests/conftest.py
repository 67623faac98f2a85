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


@pytest.fixture
async def core_host(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A host with only the core components, serving on 127.0.0.1."""
    from moonlite.testing import running_host

    async with running_host(tmp_path / "data", "") as running:
        yield running
