"""A package plugin in the data folder's plugins/ (relative imports work)."""

from __future__ import annotations

from moonlite.plugins import SimpleApiPlugin

from .answers import ANSWER


class Packaged(SimpleApiPlugin):
    """Answers a GET with a value from a sibling module."""

    def on_api_get(self, request: object) -> dict[str, int]:
        """The answer."""
        return {"answer": ANSWER}


__plugin_version__ = "2.1"
__plugin_implementation__ = Packaged()
