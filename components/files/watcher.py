"""Watch a folder with `watchfiles` (inotify) and report debounced batches of changed paths."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import watchfiles

from .paths import UPLOAD_PREFIX

log = logging.getLogger(__name__)

ChangeHandler = Callable[[set[Path]], Awaitable[None]]


class FolderWatcher:
    """Calls `on_change(paths)` with the paths that changed in `folder`, batch by batch.

    Upload temporaries and anything in hidden folders (`.thumbs`) are ignored. The handler is
    awaited before the next batch is taken, so batches never overlap.
    """

    def __init__(self, folder: Path, on_change: ChangeHandler, debounce_ms: int = 300) -> None:
        self.folder = Path(os.path.realpath(folder))
        self.on_change = on_change
        self.debounce_ms = debounce_ms
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: set once the underlying watcher is running (tests wait on it)
        self.ready = asyncio.Event()

    def _wanted(self, change: watchfiles.Change, path: str) -> bool:
        rel = os.path.relpath(path, self.folder)
        if rel.startswith(".."):
            return False
        parts = rel.split(os.sep)
        if os.path.basename(path).startswith(UPLOAD_PREFIX):
            return False
        return not any(part.startswith(".") for part in parts if part != ".")

    def start(self) -> None:
        """Start watching in a background task."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop watching and wait for the task to end."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                watch = watchfiles.awatch(
                    self.folder, watch_filter=self._wanted, debounce=self.debounce_ms,
                    step=50, stop_event=self._stop, rust_timeout=1000, yield_on_timeout=True,
                )
                async for changes in watch:
                    if not self.ready.is_set():
                        # the watch is live: catch up on whatever changed while it started
                        changes = {*changes, (watchfiles.Change.modified, str(self.folder))}
                        self.ready.set()
                    if not changes:
                        continue
                    try:
                        await self.on_change({Path(p) for _, p in changes})
                    except Exception:
                        log.exception("handling changes in %s failed", self.folder)
            except Exception:
                log.exception("watching %s failed; retrying", self.folder)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 5)
