"""The HTTP-only file endpoints: upload, download (with ranges) and delete by URL."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from moonlite.events import Events
from moonlite.middleware import public
from moonlite.rpc import ApiError

from .core import MIB, FileManagerCore, first_missing
from .fsops import delete_item, deleted_item
from .paths import Root, check_relative, join, raw_path_suspicious
from .upload import ReceivedUpload, receive_upload

THUMBNAIL_SUFFIXES = (".png", ".jpg", ".jpeg")


def _thumbnail_request(request: web.Request) -> bool:
    """Thumbnails (images under gcodes) are downloadable without credentials, as in Moonraker."""
    return (request.method in ("GET", "HEAD")
            and request.match_info.get("root") == "gcodes"
            and request.match_info.get("path", "").lower().endswith(THUMBNAIL_SUFFIXES))


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266)."""
    fallback = name.encode("ascii", "replace").decode("ascii").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''" \
        f"{urllib.parse.quote(name, safe='')}"


def _place(temp: Path, dest: Path) -> None:
    """Move a finished upload into place (a rename; a copy only across filesystems)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(temp, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(temp, dest)


class UploadActivity:
    """Uploads in progress and bytes written, with a way to wait for a condition on them."""

    def __init__(self) -> None:
        self.active = 0
        self.written = 0
        self._changed = asyncio.Event()

    def changed(self) -> None:
        """Wake whoever waits."""
        self._changed.set()

    async def wait_for(self, predicate: Callable[[UploadActivity], bool],
                       timeout: float = 10.0) -> None:
        """Return once `predicate(self)` holds (TimeoutError after `timeout` s)."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()


class FileRoutes(FileManagerCore):
    """Upload, download and delete-by-URL handlers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.uploads = UploadActivity()

    def routes(self) -> list[web.AbstractRouteDef]:
        """aiohttp routes of the HTTP-only endpoints (added before the API catch-all)."""
        return [
            web.post("/server/files/upload", self.handle_upload),
            web.get("/server/files/{root}/{path:.+}", self.handle_download),
            web.delete("/server/files/{root}/{path:.+}", self.handle_delete),
        ]

    def _request_path(self, request: web.Request) -> tuple[Root, str]:
        if raw_path_suspicious(request.raw_path):
            raise ApiError("Path not in a valid root", 403)
        root = self.roots.get(request.match_info["root"])
        return root, check_relative(request.match_info["path"])

    @public(_thumbnail_request)
    async def handle_download(self, request: web.Request) -> web.StreamResponse:
        """`GET /server/files/<root>/<path>`: the file, with Range support."""
        root, rel = self._request_path(request)
        path = self.roots.resolve(root, rel)
        if not rel or not await self.host.run_in_thread(path.is_file):
            raise ApiError(f"File does not exist: {root.name}/{rel}", 404)
        return web.FileResponse(path, headers={
            "Content-Disposition": content_disposition(path.name)})

    async def handle_delete(self, request: web.Request) -> web.StreamResponse:
        """`DELETE /server/files/<root>/<path>`: remove a file."""
        root, rel = self._request_path(request)
        result = await self.delete_file_at(root, rel)
        return web.json_response({"result": result})

    async def delete_file_at(self, root: Root, rel: str) -> dict[str, Any]:
        """Delete one file of a writable root; notify and fire events."""
        path = self.roots.resolve(root, rel, write=True)
        if not rel or not (path.is_file() or path.is_symlink()):
            raise ApiError(f"File does not exist: {root.name}/{rel}", 404)
        self.check_modifiable(path, f"{root.name}/{rel}", "deleted")
        async with self.lock:
            await self.host.run_in_thread(delete_item, path)
            await self.sync(root, [rel])
        item = deleted_item(root, rel)
        self.notify_change("delete_file", item)
        return {"item": item, "action": "delete_file"}

    # -- upload ---------------------------------------------------------------------------

    def _upload_folder(self, name: str) -> Path:
        root = self.roots.by_name.get(name)
        if root is None or not root.writable:
            root = self.roots.get("gcodes")  # refused later, with a clear error
        return root.real

    def upload_limit(self) -> int:
        """The upload size limit in bytes."""
        mib = self.config.max_upload_size or self.host.server_config.max_upload_size
        return mib * MIB

    async def handle_upload(self, request: web.Request) -> web.StreamResponse:
        """`POST /server/files/upload`: stream a multipart upload into a root (201)."""
        result = await self.upload_from_request(request)
        item = result["item"]
        location = f"{request.scheme}://{request.host}/server/files/{item['root']}/" \
            f"{urllib.parse.quote(item['path'])}"
        return web.json_response(result, status=201, headers={"Location": location})

    async def upload_from_request(self, request: web.Request) -> dict[str, Any]:
        """Receive, check and store a multipart upload (fields `file`, `root`, `path`,
        `checksum`, `print`); Moonraker's result object. Reusable by other upload routes."""
        self.uploads.active += 1
        self.uploads.changed()

        def progress(written: int) -> None:
            self.uploads.written = written
            self.uploads.changed()

        try:
            received = await receive_upload(request, self.host, self._upload_folder,
                                            self.upload_limit(), progress)
            try:
                result = await self._commit_upload(received)
            finally:
                await self.host.run_in_thread(received.target.discard)
        finally:
            self.uploads.active -= 1
            self.uploads.changed()
        return result

    async def _commit_upload(self, upload: ReceivedUpload) -> dict[str, Any]:
        root = self.roots.get(upload.root)
        if not root.writable:
            raise ApiError(f"Root '{root.name}' is read-only", 403)
        rel = check_relative(join(upload.path, upload.filename))
        if not rel:
            raise ApiError("Multipart filename omitted", 400)
        dest = self.roots.resolve(root, rel, write=True)
        digest = upload.target.sha256.hexdigest()
        if upload.checksum is not None and upload.checksum.lower() != digest:
            raise ApiError(f"File checksum mismatch: expected {upload.checksum}, "
                           f"calculated {digest}", 422)
        self.check_modifiable(dest, f"{root.name}/{rel}", "overwritten")
        async with self.lock:
            if dest.is_dir():
                raise ApiError(f"Cannot overwrite a folder: {root.name}/{rel}", 400)
            existed = dest.exists()
            top = first_missing(root, rel)
            await self.host.run_in_thread(_place, upload.temp, dest)
            diff = await self.sync(root, [top])
        self.notify_diff(diff)
        if not any((diff.created_files, diff.modified_files, diff.created_dirs)):
            # untracked (hidden or logs-like) path: still tell clients
            self.notify_change("modify_file" if existed else "create_file",
                               self._item(root, rel) or {})
        name = rel.rsplit("/", 1)[-1]
        self.host.events.fire(Events.UPLOAD, {"name": name, "path": rel, "target": "local"
                                              if root.name == "gcodes" else root.name,
                                              "file": rel})
        print_started = print_queued = False
        if upload.start_print and root.name == "gcodes":  # other roots: stored, not printed
            print_started, print_queued = await self._print_upload(rel)
        return {"item": self._item(root, rel), "print_started": print_started,
                "print_queued": print_queued,
                "action": "modify_file" if existed else "create_file"}

    async def _print_upload(self, rel: str) -> tuple[bool, bool]:
        """Start (or queue) an uploaded file: (print_started, print_queued)."""
        if self.config.queue_gcode_uploads:
            queue = self.host.get_component("job_queue")
            queue_job = getattr(queue, "queue_job", None)
            if callable(queue_job):
                await queue_job([rel])
                return False, True
        printer = self.host.get_component("printer")
        print_file = getattr(printer, "print_file", None)
        if printer is None or not callable(print_file) \
                or getattr(printer, "klippy_state", "ready") != "ready":
            raise ApiError("Klippy Host not connected", 503)
        is_busy = getattr(printer, "is_printing", None)
        is_paused = getattr(printer, "is_paused", None)
        if (callable(is_busy) and is_busy()) or (callable(is_paused) and is_paused()):
            return False, False
        await print_file(rel, source="upload")  # PrintStarted's job_source
        return True, False
