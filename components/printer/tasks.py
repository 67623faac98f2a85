"""Stopping background tasks: cancel them and wait until they have ended."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel every task given (None is skipped), then wait for each to end.

    Their results and errors are dropped (a stopping owner has no use for them); awaiting
    also retrieves the error of a task that had already failed.
    """
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
