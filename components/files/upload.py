"""Streaming multipart uploads: parsed, hashed and written in one worker as they arrive.

The event loop only receives: each chunk `request.content` hands over (up to 256 KiB) goes,
uncopied, through a queue to one thread per upload that feeds `streaming-form-data`'s parser,
whose file target hashes and writes the data. The loop stops reading while more than
`WINDOW` bytes wait in the queue, so memory stays bounded whatever the file size. The file
part goes to a hidden temporary file inside the target root; the caller renames it into place
only when everything checked out.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from streaming_form_data import StreamingFormDataParser
from streaming_form_data.parser import ParseFailedException
from streaming_form_data.targets import BaseTarget

from moonlite.rpc import ApiError

from .fsops import free_space
from .paths import UPLOAD_PREFIX

if TYPE_CHECKING:
    from moonlite.server import Host

#: received bytes allowed to wait for the worker before the loop stops reading
WINDOW = 4 * 1024 * 1024
#: the worker reports progress every this many bytes (less than WINDOW: the loop waits on it)
PROGRESS_STEP = 1024 * 1024
#: ... or, when it caught up with a slow sender, after this many seconds
PROGRESS_INTERVAL = 0.1
#: form fields other than the file are small; more than this is refused
MAX_FIELD_SIZE = 8192
#: multipart framing and form fields allowed on top of the file size limit
FRAMING_ALLOWANCE = 1024 * 1024
#: bytes written between two requests to start writing back to disk
WRITEBACK_STEP = 16 * 1024 * 1024
#: free space kept on the disk after an upload
FREE_SPACE_RESERVE = 16 * 1024 * 1024


class FieldTarget(BaseTarget):
    """A small form field held in memory (bounded)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._parts: list[bytes] = []
        self._size = 0

    def on_data_received(self, chunk: bytes) -> None:
        """Keep the chunk; refuse oversized fields."""
        self._size += len(chunk)
        if self._size > MAX_FIELD_SIZE:
            raise ApiError(f"Form field '{self.name}' is too large", 400)
        self._parts.append(chunk)

    @property
    def value(self) -> str | None:
        """The field's text, or None when the form did not carry it."""
        if not self._started:
            return None
        return b"".join(self._parts).decode("utf-8", "replace").strip()


class TempFileTarget(BaseTarget):
    """The file part: written to a temporary file in a folder chosen when it starts."""

    def __init__(self, folder: Callable[[], Path], limit: int) -> None:
        super().__init__()
        self._folder = folder
        self.limit = limit
        self.path: Path | None = None
        self._file: Any = None
        self.size = 0
        self.sha256 = hashlib.sha256()
        self._flushed = 0

    def on_start(self) -> None:
        """Create the temporary file."""
        handle, name = tempfile.mkstemp(prefix=UPLOAD_PREFIX, suffix=".part",
                                        dir=self._folder())
        self.path = Path(name)
        self._file = os.fdopen(handle, "wb", buffering=0)

    def on_data_received(self, chunk: bytes) -> None:
        """Count, hash and write a chunk (in the upload's worker thread)."""
        self.size += len(chunk)
        if self.size > self.limit:
            raise ApiError(f"File size exceeds the upload limit of {self.limit} bytes", 413)
        self.sha256.update(chunk)  # releases the GIL: the loop keeps receiving meanwhile
        try:
            self._file.write(chunk)
            if self.size - self._flushed >= WRITEBACK_STEP:
                # start writing back what is done, so the final fsync has little left to do
                os.posix_fadvise(self._file.fileno(), self._flushed, self.size - self._flushed,
                                 os.POSIX_FADV_DONTNEED)
                self._flushed = self.size
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise ApiError("Insufficient storage for the upload", 507) from None
            raise

    def on_finish(self) -> None:
        """Flush the data to disk: the upload is acknowledged only once it is durable."""
        if self._file is not None:
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    @property
    def complete(self) -> bool:
        """Whether the whole file part arrived."""
        return self._finished and self.path is not None

    def discard(self) -> None:
        """Close and remove the temporary file (safe to call more than once)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)


@dataclass
class ReceivedUpload:
    """A completely received upload: form fields and the temporary file holding the data."""

    root: str
    path: str
    filename: str
    checksum: str | None
    start_print: bool
    target: TempFileTarget

    @property
    def temp(self) -> Path:
        """The temporary file."""
        assert self.target.path is not None
        return self.target.path


async def receive_upload(request: web.Request, host: Host, folder_of: Callable[[str], Path],
                         limit: int, progress: Callable[[int], None] | None = None
                         ) -> ReceivedUpload:
    """Read a multipart upload into a temporary file; the caller commits or discards it.

    `folder_of(root_name)` gives the folder the temporary file is created in (the target
    root); `limit` is the maximum file size in bytes; `progress(bytes)` is called with the
    body bytes parsed, hashed and written so far, about every `PROGRESS_STEP` bytes.
    """
    length = request.content_length
    if length is not None and length > limit + FRAMING_ALLOWANCE:
        raise ApiError(f"Upload of {length} bytes exceeds the limit of {limit} bytes", 413)
    try:
        parser = StreamingFormDataParser(headers=request.headers)
    except ParseFailedException:
        raise ApiError("Content-Type must be multipart/form-data", 400) from None
    fields = {name: FieldTarget(name) for name in ("root", "path", "checksum", "print")}
    for name, field in fields.items():
        parser.register(name, field)

    def folder() -> Path:
        return folder_of(fields["root"].value or "gcodes")

    target = TempFileTarget(folder, limit)
    parser.register("file", target)
    if length is not None:
        free = await host.run_in_thread(free_space, folder_of("gcodes"))
        if length + FREE_SPACE_RESERVE > free:
            raise ApiError("Insufficient storage for the upload", 507)
    try:
        await _pump(request, parser, limit + FRAMING_ALLOWANCE, progress)
        if not target.complete:
            raise ApiError("Multipart upload incomplete or without a 'file' part", 400)
        if not target.multipart_filename:
            raise ApiError("Multipart filename omitted", 400)
        return ReceivedUpload(
            root=fields["root"].value or "gcodes",
            path=fields["path"].value or "",
            filename=target.multipart_filename,
            checksum=fields["checksum"].value or None,
            start_print=(fields["print"].value or "").lower() == "true",
            target=target,
        )
    except BaseException:
        await host.run_in_thread(target.discard)
        raise


class BodyWorker:
    """One thread that feeds an upload's body to the parser, in order, as chunks arrive.

    The loop side (`put`, `wait_for_room`, `close`, `abort`, `done`) is used from the event
    loop only; the thread reports back with `call_soon_threadsafe` once per `PROGRESS_STEP`
    bytes (or `PROGRESS_INTERVAL` when the sender is slow), so there is no future or executor
    hand-off per chunk.
    """

    def __init__(self, parser: StreamingFormDataParser, loop: asyncio.AbstractEventLoop,
                 progress: Callable[[int], None] | None) -> None:
        self._parser = parser
        self._loop = loop
        self._progress = progress
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._aborted = threading.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._waiting = 0  # bytes queued, not yet parsed (loop side)
        self.processed = 0  # bytes parsed, hashed and written (loop side)
        #: resolves when the thread stopped: None, or the exception that stopped it
        self.done: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._run, name="moonlite-upload", daemon=True)
        self._thread.start()

    def put(self, chunk: bytes) -> None:
        """Queue a chunk of the body (not copied)."""
        self._waiting += len(chunk)
        if self._waiting >= WINDOW:
            self._room.clear()
        self._queue.put(chunk)

    async def wait_for_room(self) -> None:
        """Return once the queue is below `WINDOW` bytes or the thread stopped."""
        while not self._room.is_set() and not self.done.done():
            await self._room.wait()

    def close(self) -> None:
        """No more chunks: the thread stops once it parsed what is queued."""
        self._queue.put(None)

    def abort(self) -> None:
        """Stop the thread soon, without parsing what is still queued."""
        self._aborted.set()
        self._queue.put(None)

    def join(self) -> None:
        """Wait for the thread's exit once `done` resolved (it has nothing left but to return,
        so this is short; without it the thread may still be listed for a moment)."""
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        unreported = 0
        reported_at = 0.0
        error: BaseException | None = None
        try:
            while (chunk := self._queue.get()) is not None and not self._aborted.is_set():
                self._parser.data_received(chunk)
                unreported += len(chunk)
                # each report wakes the loop: not one per chunk when both sides keep pace
                if unreported >= PROGRESS_STEP or (
                        self._queue.empty()
                        and time.monotonic() - reported_at >= PROGRESS_INTERVAL):
                    self._report(self._parsed, unreported)
                    unreported = 0
                    reported_at = time.monotonic()
        except BaseException as exc:  # handed to the loop, raised there
            error = exc
        self._report(self._stopped, unreported, error)

    def _report(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self._loop.call_soon_threadsafe(callback, *args)

    def _parsed(self, size: int) -> None:
        self._waiting -= size
        self.processed += size
        if self._waiting < WINDOW:
            self._room.set()
        if size and self._progress is not None:
            self._progress(self.processed)

    def _stopped(self, size: int, error: BaseException | None) -> None:
        self._parsed(size)
        self._room.set()
        if self.done.done():
            return
        if error is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(error)


async def _pump(request: web.Request, parser: StreamingFormDataParser, max_body: int,
                progress: Callable[[int], None] | None) -> None:
    """Receive the body on the loop while one worker thread parses, hashes and writes it."""
    worker = BodyWorker(parser, asyncio.get_running_loop(), progress)
    received = 0
    try:
        while not worker.done.done():
            chunk = await request.content.readany()
            if not chunk:
                worker.close()
                break
            received += len(chunk)
            if received > max_body:
                raise ApiError(f"Upload exceeds the limit of {max_body} bytes", 413)
            worker.put(chunk)
            await worker.wait_for_room()
        # the worker's error (413, 507, a bad body) if it stopped early; shielded: a cancelled
        # upload must not lose track of a thread that may still write
        await asyncio.shield(worker.done)
    except ParseFailedException as exc:
        raise ApiError(f"Malformed multipart body: {exc}", 400) from None
    finally:
        if not worker.done.done():
            # the thread may still write: wait for it before the caller removes the file
            worker.abort()
            with contextlib.suppress(BaseException):
                await asyncio.shield(worker.done)
        if worker.done.done():
            worker.done.exception()  # seen, even when another error is the one raised
            worker.join()
