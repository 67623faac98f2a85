"""docs/api-reference.md is the registry as it is (`python -m moonlite.apidoc` regenerates it)."""

from __future__ import annotations

from pathlib import Path

from moonlite.apidoc import render

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "api-reference.md"


def test_api_reference_is_current() -> None:
    assert REFERENCE.read_text() == render(), \
        "docs/api-reference.md is stale: run `python -m moonlite.apidoc > docs/api-reference.md`"


def test_reference_lists_the_methods_frontends_call_first() -> None:
    text = REFERENCE.read_text()
    for method in ("server.info", "printer.objects.subscribe", "server.files.get_directory",
                   "server.database.get_item", "server.history.list",
                   "server.connection.identify"):
        assert f"`{method}`" in text
