"""A command sent through the link: its future, and the lines the firmware answered with."""

from __future__ import annotations

import asyncio
from typing import Any

from .errors import CommandError


class Command:
    """A command from `send`: its text, the future for its ok, and the lines it produced."""

    __slots__ = ("error", "future", "lines", "text")

    def __init__(self, text: str, future: asyncio.Future[list[str]]) -> None:
        self.text = text
        self.future = future
        self.lines: list[str] = []
        self.error: str | None = None

    def finish(self) -> None:
        """The firmware acknowledged the command: resolve (or fail with its error message)."""
        future = self.future
        if future.done():
            return
        if self.error is not None:
            future.set_exception(CommandError(self.error, self.text))
        else:
            future.set_result(self.lines)

    def fail(self, exc: BaseException) -> None:
        """The command will never be acknowledged."""
        if not self.future.done():
            self.future.set_exception(exc)


def ignore_result(future: asyncio.Future[Any]) -> None:
    """Done-callback for fire-and-forget commands: retrieve (and drop) their outcome."""
    if not future.cancelled():
        future.exception()
