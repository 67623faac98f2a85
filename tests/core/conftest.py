"""Fixtures of the core tests: a host with auth open (trusted loopback) or locked (API key)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from core_api_client import Api, open_api


@pytest.fixture(params=["trusted", "api_key"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    """A core host, once with loopback trusted and once reachable only with the API key."""
    async with open_api(tmp_path / "data", request.param) as running_api:
        yield running_api
