"""Streaming multipart uploads: parsed in a worker, hashed and written as they arrive.

The body is read in chunks and handed, one batch at a time, to `streaming-form-data`'s parser
in a worker thread while the next batch is received (double buffering: memory stays at about
two batches whatever the file size). The file part goes to a hidden temporary file inside the
target root; the caller renames it into place only when everything checked out.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import tempfile
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

#: bytes handed to the parser per worker call
BATCH_SIZE = 1024 * 1024
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
        self._unhashed: list[bytes] = []
        self._flushed = 0

    def on_start(self) -> None:
        """Create the temporary file."""
        handle, name = tempfile.mkstemp(prefix=UPLOAD_PREFIX, suffix=".part",
                                        dir=self._folder())
        self.path = Path(name)
        self._file = os.fdopen(handle, "wb", buffering=0)

    def on_data_received(self, chunk: bytes) -> None:
        """Count and write a chunk; keep it for the hashing stage."""
        self.size += len(chunk)
        if self.size > self.limit:
            raise ApiError(f"File size exceeds the upload limit of {self.limit} bytes", 413)
        self._unhashed.append(chunk)
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

    def take_unhashed(self) -> list[bytes]:
        """The chunks written since the last call (to be hashed, in order)."""
        chunks, self._unhashed = self._unhashed, []
        return chunks

    def hash_chunks(self, chunks: list[bytes]) -> None:
        """Feed chunks to the SHA-256 (in a worker; calls for one upload never overlap)."""
        for chunk in chunks:
            self.sha256.update(chunk)

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


def _feed(parser: StreamingFormDataParser, target: TempFileTarget, chunks: list[bytes]
          ) -> list[bytes]:
    # one parser call per batch: the target writes big pieces, so the worker gives up and
    # retakes the GIL a few times per batch instead of a few times per chunk
    parser.data_received(chunks[0] if len(chunks) == 1 else b"".join(chunks))
    return target.take_unhashed()


async def receive_upload(request: web.Request, host: Host, folder_of: Callable[[str], Path],
                         limit: int, progress: Callable[[int], None] | None = None
                         ) -> ReceivedUpload:
    """Read a multipart upload into a temporary file; the caller commits or discards it.

    `folder_of(root_name)` gives the folder the temporary file is created in (the target
    root); `limit` is the maximum file size in bytes; `progress(bytes)` is called after each
    batch was written.
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
        await _pump(request, host, parser, target, limit + FRAMING_ALLOWANCE, progress)
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


def _reporter(progress: Callable[[int], None], written: int
              ) -> Callable[[asyncio.Future[Any]], None]:
    def report(done: asyncio.Future[Any]) -> None:
        if not done.cancelled() and done.exception() is None:
            progress(written)

    return report


async def _pump(request: web.Request, host: Host, parser: StreamingFormDataParser,
                target: TempFileTarget, max_body: int,
                progress: Callable[[int], None] | None) -> None:
    """Receive the body in batches through a three-stage pipeline.

    While the event loop receives batch N+1, one worker parses and writes batch N and another
    hashes the file data of batch N-1 (hashlib and file writes release the GIL, so the stages
    overlap). Each stage handles one batch at a time: at most about three batches are held.
    """
    parsing: asyncio.Future[list[bytes]] | None = None
    hashing: asyncio.Future[None] | None = None
    received = 0

    async def hand_over(batch: list[bytes], upto: int) -> None:
        nonlocal parsing, hashing
        if parsing is not None:
            written = await parsing
            parsing = None
            if hashing is not None:
                await hashing
            hashing = asyncio.ensure_future(host.run_in_thread(target.hash_chunks, written))
        if batch:
            parsing = asyncio.ensure_future(host.run_in_thread(_feed, parser, target, batch))
            if progress is not None:
                parsing.add_done_callback(_reporter(progress, upto))

    batch: list[bytes] = []
    batch_size = 0
    try:
        while True:
            chunk = await request.content.readany()
            if not chunk:
                break
            received += len(chunk)
            if received > max_body:
                raise ApiError(f"Upload exceeds the limit of {max_body} bytes", 413)
            batch.append(chunk)
            batch_size += len(chunk)
            if batch_size >= BATCH_SIZE:
                await hand_over(batch, received)
                batch, batch_size = [], 0
        await hand_over(batch, received)  # the last batch
        await hand_over([], received)  # its hashing
        if hashing is not None:
            await hashing
            hashing = None
    except ParseFailedException as exc:
        raise ApiError(f"Malformed multipart body: {exc}", 400) from None
    finally:
        # workers may still write: wait for them before the caller removes the file
        for pending in (parsing, hashing):
            if pending is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.shield(pending)
