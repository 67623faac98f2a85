"""Fixtures of the analysis tests: estimator limits and a host serving `[analysis]`."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from moonlite.testing import RunningHost, running_host


@pytest.fixture
async def analysis_host(tmp_path: Path, gcode_dir: Path) -> AsyncIterator[RunningHost]:
    """A host with the analysis component and a copy of the shared G-code in its gcodes root."""
    data = tmp_path / "data"
    (data / "gcodes").mkdir(parents=True)
    (data / "config").mkdir(parents=True)
    for name in ("hexnut_marlin2.gcode", "torus_marlin.gcode"):
        shutil.copy(gcode_dir / name, data / "gcodes" / name)
    async with running_host(data, "[analysis]\nestimator_timeout: 120\n") as running:
        yield running
