"""`server.files.*`: Moonraker's file API (listing, folders, metadata, move, copy, zip, delete)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moonlite.rpc import ApiError, Transport, api

from .core import first_missing
from .fsops import (
    copy_item,
    delete_item,
    deleted_item,
    list_directory,
    list_root,
    move_item,
    zip_items,
)
from .paths import Root, is_gcode
from .routes import FileRoutes


@dataclass
class Transfer:
    """Both ends of a checked move or copy."""

    src_root: Root
    src_rel: str
    src_path: Path
    dst_root: Root
    dst_rel: str
    dst_path: Path
    is_dir: bool


def transfer_destination(source: str, src_path: Path, dest: str, dst_rel: str,
                         dst_path: Path, verb: str) -> tuple[str, Path]:
    """Where a move or copy of `src_path` to `dest` lands: (relative path, absolute path).

    An existing folder as destination takes the source inside it (Moonraker); landing in the
    source itself or a folder replaced by a file is a 400. Blocking: run in a worker thread.
    """
    if dst_path.is_dir() and not dst_path.is_symlink():
        dst_rel = f"{dst_rel}/{src_path.name}"
        dst_path = dst_path / src_path.name
    if src_path == dst_path or dst_path.is_relative_to(src_path):
        raise ApiError(f"Cannot {verb} {source} {'into' if verb == 'move' else 'onto'} itself",
                       400)
    if dst_path.is_dir() and not src_path.is_dir():
        raise ApiError(f"Cannot overwrite a folder with a file: {dest}", 400)
    for parent in dst_path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ApiError(f"Not a folder: {dest} lies under a file", 400)
            break
    return dst_rel, dst_path


def check_move(source: str, src_path: Path, dest: str, dst_rel: str, dst_path: Path
               ) -> tuple[str, Path, bool]:
    """The checked destination of a move, and whether it moves a folder (blocking)."""
    if not (src_path.exists() or src_path.is_symlink()):
        raise ApiError(f"File does not exist: {source}", 404)
    dst_rel, dst_path = transfer_destination(source, src_path, dest, dst_rel, dst_path, "move")
    return dst_rel, dst_path, src_path.is_dir() and not src_path.is_symlink()


def check_copy(source: str, src_path: Path, dest: str, dst_rel: str, dst_path: Path
               ) -> tuple[str, Path, bool]:
    """The checked destination of a copy, and whether it copies a folder (blocking)."""
    if not src_path.exists():
        raise ApiError(f"File does not exist: {source}", 404)
    if not (src_path.is_dir() or src_path.is_file()):
        raise ApiError(f"Not a regular file: {source}", 400)
    dst_rel, dst_path = transfer_destination(source, src_path, dest, dst_rel, dst_path, "copy")
    return dst_rel, dst_path, src_path.is_dir()


class FileManager(FileRoutes):
    """Moonraker's `file_manager`: roots, listings, folder and file operations, metadata."""

    @api("server.files.roots")
    async def roots_info(self) -> list[dict[str, Any]]:
        """The registered roots: name, absolute path and permissions."""
        return [{"name": r.name, "path": str(r.path), "permissions": r.permissions}
                for r in (self.roots.get(n) for n in ("config", "logs", "gcodes"))]

    @api("server.files.list")
    async def list_files(self, root: str = "gcodes") -> list[dict[str, Any]]:
        """Every file of a root (G-code files only in `gcodes`), paths relative to the root."""
        found = self.roots.get(root)
        return await self.host.run_in_thread(list_root, found, root == "gcodes")

    @api("server.files.get_directory")
    async def get_directory(self, path: str = "gcodes", extended: bool = False
                            ) -> dict[str, Any]:
        """The folders and files directly in a folder, with disk usage; `extended` adds metadata."""
        root, rel, folder = self.roots.resolve_full(path)
        if not await self.host.run_in_thread(folder.is_dir):
            raise ApiError(f"Directory does not exist ({path})", 400)
        listing = await self.host.run_in_thread(list_directory, root, folder)
        if extended and root.name == "gcodes":
            for entry in listing.files:
                file_rel = f"{rel}/{entry['filename']}" if rel else entry["filename"]
                metadata = self.cache.get(file_rel)
                if metadata:
                    entry.update({k: v for k, v in metadata.items() if k != "filename"})
        return {"dirs": listing.dirs, "files": listing.files, "disk_usage": listing.disk_usage,
                "root_info": {"name": root.name, "permissions": root.permissions}}

    @api("server.files.post_directory", "POST")
    async def post_directory(self, path: str) -> dict[str, Any]:
        """Create a folder (its parent must exist)."""
        root, rel, folder = self.roots.resolve_full(path, write=True)
        if not rel:
            raise ApiError(f"Directory already exists ({path})", 400)
        async with self.lock:
            try:
                await self.host.run_in_thread(folder.mkdir)
            except FileExistsError:
                raise ApiError(f"Directory already exists ({path})", 400) from None
            except FileNotFoundError:
                raise ApiError(f"Parent directory does not exist ({path})", 400) from None
            await self.sync(root, [rel])
        item = self._item(root, rel) or {}
        self.notify_change("create_dir", item)
        return {"item": item, "action": "create_dir"}

    @api("server.files.delete_directory", "DELETE")
    async def delete_directory(self, path: str, force: bool = False) -> dict[str, Any]:
        """Delete a folder; one that is not empty only with `force`."""
        root, rel, folder = self.roots.resolve_full(path, write=True)
        if not rel:
            raise ApiError("Cannot delete a root directory", 403)
        if folder.is_symlink() or not await self.host.run_in_thread(folder.is_dir):
            raise ApiError(f"Directory does not exist ({path})", 400)
        self.check_modifiable(folder, path, "deleted")
        async with self.lock:
            if not force and any(folder.iterdir()):
                raise ApiError(f"Directory contains files; use force to delete ({path})", 400)
            await self.host.run_in_thread(delete_item, folder)
            await self.sync(root, [rel])
        item = deleted_item(root, rel)
        self.notify_change("delete_dir", item)
        return {"item": item, "action": "delete_dir"}

    @api("server.files.delete_file", "DELETE",
         transports=Transport.WEBSOCKET | Transport.INTERNAL)
    async def delete_file(self, path: str) -> dict[str, Any]:
        """Delete a file given as `<root>/<path>` (websocket only, as in Moonraker)."""
        root, rel = self.roots.split(path)
        return await self.delete_file_at(root, rel)

    async def _transfer(self, verb: str, source: str, dest: str) -> Transfer:
        """Resolve and check both ends of a move or copy (file-system checks in a thread)."""
        src_root, src_rel, src_path = self.roots.resolve_full(source, write=verb == "move")
        dst_root, dst_rel, dst_path = self.roots.resolve_full(dest, write=True)
        if not src_rel or not dst_rel:
            raise ApiError(f"Cannot {verb} a root directory", 403)
        check = check_move if verb == "move" else check_copy
        dst_rel, dst_path, is_dir = await self.host.run_in_thread(
            check, source, src_path, dest, dst_rel, dst_path)
        return Transfer(src_root, src_rel, src_path, dst_root, dst_rel, dst_path, is_dir)

    @api("server.files.move", "POST")
    async def move(self, source: str, dest: str) -> dict[str, Any]:
        """Move or rename a file or folder (into `dest` when it is an existing folder)."""
        ends = await self._transfer("move", source, dest)
        self.check_modifiable(ends.src_path, source, "moved")
        self.check_modifiable(ends.dst_path, dest, "overwritten")

        def move_there() -> str:
            top = first_missing(ends.dst_root, ends.dst_rel)
            move_item(ends.src_path, ends.dst_path)
            return top

        async with self.lock:
            top = await self.host.run_in_thread(move_there)
            if ends.is_dir and ends.src_root.name == ends.dst_root.name == "gcodes":
                await self.cache.rename_prefix(ends.src_rel, ends.dst_rel)
            await self.sync(ends.src_root, [ends.src_rel])
            await self.sync(ends.dst_root, [top])
        item = self._item(ends.dst_root, ends.dst_rel) or {}
        action = "move_dir" if ends.is_dir else "move_file"
        source_item = {"path": ends.src_rel, "root": ends.src_root.name}
        self.notify_change(action, item, source_item)
        return {"item": item, "source_item": source_item, "action": action}

    @api("server.files.copy", "POST")
    async def copy(self, source: str, dest: str) -> dict[str, Any]:
        """Copy a file or folder (the printed file may be copied, not overwritten)."""
        ends = await self._transfer("copy", source, dest)
        self.check_modifiable(ends.dst_path, dest, "overwritten")

        def copy_there() -> tuple[bool, str]:
            existed = ends.dst_path.exists()
            top = first_missing(ends.dst_root, ends.dst_rel)
            copy_item(ends.src_path, ends.dst_path)
            return existed, top

        async with self.lock:
            existed, top = await self.host.run_in_thread(copy_there)
            await self.sync(ends.dst_root, [top])
        item = self._item(ends.dst_root, ends.dst_rel) or {}
        action = "create_dir" if ends.is_dir else ("modify_file" if existed else "create_file")
        self.notify_change(action, item)
        return {"item": item, "action": action}

    @api("server.files.zip", "POST")
    async def zip_files(self, items: list[str], dest: str | None = None,
                        store_only: bool = False) -> dict[str, Any]:
        """Write a zip archive of files and folders (default `config/collection-<time>.zip`)."""
        if not items:
            raise ApiError("No items to archive", 400)
        dest = dest or f"config/collection-{time.strftime('%Y%m%d-%H%M%S')}.zip"
        dst_root, dst_rel, dst_path = self.roots.resolve_full(dest, write=True)
        if not dst_rel or dst_path.is_dir():
            raise ApiError(f"Invalid zip destination: {dest}", 400)
        entries = []
        for entry in items:
            root, rel, path = self.roots.resolve_full(entry)
            if not path.exists():
                raise ApiError(f"File does not exist: {entry}", 404)
            entries.append((f"{root.name}/{rel}" if rel else root.name, path, root))
        self.check_modifiable(dst_path, dest, "overwritten")

        def zip_there() -> tuple[bool, str]:
            existed = dst_path.exists()
            top = first_missing(dst_root, dst_rel)
            dst_path.parent.mkdir(parents=True, exist_ok=True)
            zip_items(entries, dst_path, store_only)
            return existed, top

        async with self.lock:
            existed, top = await self.host.run_in_thread(zip_there)
            await self.sync(dst_root, [top])
        item = self._item(dst_root, dst_rel) or {}
        self.notify_change("modify_file" if existed else "create_file", item)
        return {"destination": item, "action": "zip_files"}

    @api("server.files.metadata")
    async def metadata(self, filename: str) -> dict[str, Any]:
        """The G-code metadata of a gcodes-relative file."""
        rel, _ = self.gcode_rel(filename)
        found = await self.get_metadata(rel) if rel else None
        if found is None:
            raise ApiError(f"Metadata not available for {filename}", 404)
        return found

    @api("server.files.metascan", "POST")
    async def metascan(self, filename: str) -> dict[str, Any]:
        """Extract the metadata of a file again (whether cached or not)."""
        rel, path = self.gcode_rel(filename)
        if not rel or not await self.host.run_in_thread(path.is_file):
            raise ApiError(f"File {filename} does not exist", 400)
        if not is_gcode(rel):
            raise ApiError(f"Metadata not available for {filename}", 404)
        async with self.lock:
            found = await self.cache.scan(rel)
        if found is None:
            raise ApiError(f"Metadata not available for {filename}", 404)
        return found

    @api("server.files.thumbnails")
    async def thumbnails(self, filename: str) -> list[dict[str, Any]]:
        """The thumbnails of a file, with paths relative to the gcodes root."""
        rel, _ = self.gcode_rel(filename)
        found = await self.get_metadata(rel) if rel else None
        if found is None:
            raise ApiError(f"Metadata not available for {filename}", 404)
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        result = []
        for thumb in found.get("thumbnails") or ():
            thumb_path = f"{parent}/{thumb['relative_path']}" if parent \
                else thumb["relative_path"]
            result.append({"width": thumb.get("width"), "height": thumb.get("height"),
                           "size": thumb.get("size"), "thumbnail_path": thumb_path})
        return result
