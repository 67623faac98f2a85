"""Blocking filesystem work of the files component (listing, copy, move, delete, zip).

Everything here runs in a worker thread; paths arrive already resolved by `paths.Roots`.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .paths import UPLOAD_PREFIX, Root, is_gcode

#: (size, mtime) of one file: what "changed" means for the cache and the watcher
FileState = tuple[int, float]


def deleted_item(root: Root, rel: str) -> dict[str, Any]:
    """Moonraker's item object for something that was removed."""
    return {"path": rel, "root": root.name, "modified": 0, "size": 0, "permissions": ""}


def _inside(real_root: Path, entry_path: str) -> bool:
    real = os.path.realpath(entry_path)
    return real == str(real_root) or real.startswith(str(real_root) + os.sep)


def walk_files(root: Root, base: Path | None = None, *, skip_hidden: bool = True
               ) -> tuple[dict[str, FileState], set[str]]:
    """Every file (rel path -> state) and folder (rel paths) under `base` (default: the root).

    Symlinks leading out of the root are skipped, symlinked folders are not followed, and
    upload temporaries are never reported.
    """
    real_root = root.real
    start = base or real_root
    files: dict[str, FileState] = {}
    dirs: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(start):
        rel_dir = root.relative(Path(dirpath))
        kept = []
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if skip_hidden and name.startswith("."):
                continue
            if os.path.islink(full):
                continue
            kept.append(name)
            dirs.add(f"{rel_dir}/{name}" if rel_dir else name)
        dirnames[:] = kept
        for name in filenames:
            if name.startswith(UPLOAD_PREFIX) or (skip_hidden and name.startswith(".")):
                continue
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or not _inside(real_root, full):
                continue
            files[f"{rel_dir}/{name}" if rel_dir else name] = (st.st_size, st.st_mtime)
    return files, dirs


def list_root(root: Root, gcode_only: bool) -> list[dict[str, Any]]:
    """`server.files.list`: every (G-code) file of a root, with path relative to it."""
    files, _ = walk_files(root)
    return [
        {"path": rel, "modified": mtime, "size": size, "permissions": root.permissions}
        for rel, (size, mtime) in sorted(files.items())
        if not gcode_only or is_gcode(rel)
    ]


@dataclass
class DirectoryListing:
    """One folder's entries, as `server.files.get_directory` reports them."""

    dirs: list[dict[str, Any]]
    files: list[dict[str, Any]]
    disk_usage: dict[str, int]


def list_directory(root: Root, path: Path) -> DirectoryListing:
    """The folders and files directly in `path` (hidden ones included, temporaries not)."""
    dirs: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    real_root = root.real
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.name.startswith(UPLOAD_PREFIX) or not _inside(real_root, entry.path):
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            info = {"modified": st.st_mtime, "size": st.st_size,
                    "permissions": root.permissions}
            if stat.S_ISDIR(st.st_mode):
                dirs.append({**info, "dirname": entry.name})
            elif stat.S_ISREG(st.st_mode):
                files.append({**info, "filename": entry.name})
    usage = shutil.disk_usage(path)
    return DirectoryListing(
        sorted(dirs, key=lambda d: d["dirname"]), sorted(files, key=lambda f: f["filename"]),
        {"total": usage.total, "used": usage.used, "free": usage.free},
    )


def special_entries(folder: str, names: list[str]) -> set[str]:
    """The names in `folder` that are neither files, folders nor links (FIFOs, sockets,
    devices): copying one blocks or fails."""
    ignored = set()
    for name in names:
        try:
            mode = os.lstat(os.path.join(folder, name)).st_mode
        except OSError:
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            ignored.add(name)
    return ignored


def copy_item(source: Path, dest: Path) -> None:
    """Copy a file or a folder tree (links are copied as links, never followed; special
    files are left out)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True,
                        ignore=special_entries)
    else:
        copy_file_atomically(source, dest)


def copy_file_atomically(source: Path, dest: Path) -> None:
    """Copy through a temporary file next to `dest`, then rename: never a half file."""
    handle, temp = tempfile.mkstemp(prefix=UPLOAD_PREFIX, dir=dest.parent)
    os.close(handle)
    try:
        shutil.copyfile(source, temp)
        shutil.copystat(source, temp)
        os.replace(temp, dest)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def move_item(source: Path, dest: Path) -> None:
    """Rename (or copy and remove across filesystems) a file or folder."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(source, dest)


def delete_item(path: Path) -> None:
    """Remove a file, a link or a whole folder tree (links inside are removed, not followed)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def zip_items(items: list[tuple[str, Path, Root]], dest: Path, store_only: bool) -> None:
    """Write a zip of `items` (archive name, path, root) to `dest` through a temporary file.

    Folders are walked without following links; files whose real path leaves their root are
    left out, and so is whatever is not a regular file (a broken link would fail the archive,
    a FIFO would block the worker forever).
    """
    compression = zipfile.ZIP_STORED if store_only else zipfile.ZIP_DEFLATED
    handle, temp = tempfile.mkstemp(prefix=UPLOAD_PREFIX, dir=dest.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temp, "w", compression=compression) as archive:
            for arcname, path, root in items:
                if path.is_dir() and not path.is_symlink():
                    for dirpath, _dirnames, filenames in os.walk(path):
                        for name in sorted(filenames):
                            full = os.path.join(dirpath, name)
                            if name.startswith(UPLOAD_PREFIX) or not os.path.isfile(full) \
                                    or not _inside(root.real, full) \
                                    or os.path.samefile(full, temp):
                                continue
                            rel = os.path.relpath(full, path).replace(os.sep, "/")
                            archive.write(full, f"{arcname}/{rel}")
                elif path.is_file() and _inside(root.real, str(path)):
                    archive.write(path, arcname)
        os.replace(temp, dest)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def remove_stale_uploads(root: Root) -> list[str]:
    """Delete upload temporaries left by a crash (none can be in progress at start-up)."""
    removed = []
    for dirpath, dirnames, filenames in os.walk(root.real):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            if name.startswith(UPLOAD_PREFIX):
                full = os.path.join(dirpath, name)
                try:
                    os.unlink(full)
                except OSError:
                    continue
                removed.append(full)
    return removed


def free_space(path: Path) -> int:
    """Free bytes on the filesystem holding `path`."""
    return shutil.disk_usage(path).free
