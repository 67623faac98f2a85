"""The file manager's state: roots, the known tree per root, the metadata cache and the watcher.

Every change to a root, whether made through the API or found by the watcher, goes through
`sync`: it rescans the touched subtree, compares with what was known, updates the metadata
cache and fires OctoPrint's file events. API operations and watcher batches hold one lock, so
a change made through the API is never reported a second time by the watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import stat
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from moonlite.component import Component
from moonlite.config import SectionModel
from moonlite.events import Events
from moonlite.rpc import ApiError

from .cache import MetadataCache
from .fsops import FileState, deleted_item, remove_stale_uploads, walk_files
from .paths import Root, Roots, is_gcode, is_hidden
from .watcher import FolderWatcher

MIB = 1024 * 1024


class FileManagerConfig(SectionModel):
    """`[file_manager]`: Moonraker's options plus moonlite's."""

    #: watch the gcodes folder for changes made outside the API
    enable_observer: bool = True
    #: Moonraker's name for the same switch ("none" turns it off)
    file_system_observer: Literal["inotify", "none"] = "inotify"
    enable_observer_warnings: bool = True
    enable_inotify_warnings: bool = True
    #: milliseconds of quiet before a batch of outside changes is handled
    observer_debounce_ms: int = Field(300, ge=10, le=10000)
    #: upload size limit in MiB (default: [server] max_upload_size)
    max_upload_size: int | None = Field(None, ge=1)
    #: `print=true` uploads go to the job queue instead of starting at once
    queue_gcode_uploads: bool = False
    enable_config_write_access: bool = True
    enable_object_processing: bool = False
    check_klipper_config_path: bool = True


@dataclass
class TreeDiff:
    """What changed in a subtree of a root between two scans."""

    root: Root
    created_dirs: list[str] = field(default_factory=list)
    deleted_dirs: list[str] = field(default_factory=list)
    created_files: list[str] = field(default_factory=list)
    modified_files: list[str] = field(default_factory=list)
    deleted_files: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Whether nothing changed."""
        return not (self.created_dirs or self.deleted_dirs or self.created_files
                    or self.modified_files or self.deleted_files)


def _under(rel: str, prefix: str) -> bool:
    return not prefix or rel == prefix or rel.startswith(prefix + "/")


def _scan_subtree(root: Root, rel: str) -> tuple[dict[str, FileState], set[str]]:
    """Files and folders at or under `rel` now (hidden ones are not tracked)."""
    if rel and is_hidden(rel):
        return {}, set()
    path = root.real / rel if rel else root.real
    if path.is_symlink() and not os.path.realpath(path).startswith(str(root.real) + os.sep):
        return {}, set()
    if path.is_dir():
        files, dirs = walk_files(root, path)
        if rel:
            dirs.add(rel)
        return files, dirs
    if path.is_file():
        st = path.stat()
        return {rel: (st.st_size, st.st_mtime)}, set()
    return {}, set()


def first_missing(root: Root, rel: str) -> str:
    """The outermost folder of `rel`'s parents that does not exist yet, else `rel` itself."""
    parts = rel.split("/")
    for i in range(1, len(parts)):
        candidate = "/".join(parts[:i])
        if not (root.real / candidate).exists():
            return candidate
    return rel


def _storage(root: Root) -> str:
    # OctoPrint calls the host's printable storage "local"
    return "local" if root.name == "gcodes" else root.name


def file_type(name: str) -> list[str]:
    """OctoPrint's type path of a file: ["machinecode", "gcode"], ["model", "stl"], ..."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if is_gcode(name):
        return ["machinecode", "gcode"]
    if ext in ("stl", "3mf", "obj"):
        return ["model", ext]
    return [ext] if ext else []


class FileManagerCore(Component):
    """Roots, the known trees, the metadata cache, the watcher and change reporting."""

    name = "file_manager"
    Config = FileManagerConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        paths = self.host.paths
        self.config: FileManagerConfig
        self.roots = Roots([
            Root("gcodes", paths.gcodes, True),
            Root("config", paths.config, self.config.enable_config_write_access),
            Root("logs", paths.logs, False),
        ])
        self.host.registered_directories = ["config", "logs", "gcodes"]
        self.cache = MetadataCache(self.host, paths.gcodes)
        #: per tracked root: files (rel -> (size, mtime)) and folders as last seen
        self.known_files: dict[str, dict[str, FileState]] = {"gcodes": {}, "config": {}}
        self.known_dirs: dict[str, set[str]] = {"gcodes": set(), "config": set()}
        self.lock = asyncio.Lock()
        #: one watcher per tracked root (gcodes, config) while the observer is on
        self.watchers: dict[str, FolderWatcher] = {}
        self._background: set[asyncio.Task[Any]] = set()
        #: set once the cache caught up with the disk after start-up
        self.cache_ready = asyncio.Event()

    @property
    def watcher(self) -> FolderWatcher | None:
        """The gcodes folder's watcher (None when the observer is off)."""
        return self.watchers.get("gcodes")

    # -- contract for other components ----------------------------------------------------

    @property
    def gcodes_root(self) -> Path:
        """The gcodes folder (symlinks resolved)."""
        return self.roots.get("gcodes").real

    def resolve(self, root: str, path: str) -> Path:
        """The absolute path of `path` inside `root` (ApiError 4xx for anything outside)."""
        return self.roots.resolve(root, path)

    def gcode_rel(self, filename: str) -> tuple[str, Path]:
        """A gcodes-relative name checked and normalised: ("" for the root itself, path)."""
        root = self.roots.get("gcodes")
        path = self.roots.resolve(root, filename)
        return root.relative(path) if path != root.real else "", path

    async def get_metadata(self, filename: str) -> dict[str, Any] | None:
        """The cached metadata of a gcodes-relative path (refreshed if the file changed)."""
        try:
            rel, path = self.gcode_rel(filename)
        except ApiError:
            return None
        try:
            st = await self.host.run_in_thread(path.stat)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode) or not is_gcode(rel):
            return None
        if self.cache.state(rel) != (st.st_size, st.st_mtime):
            async with self.lock:
                return await self.cache.scan(rel)
        return self.cache.get(rel)

    async def update_metadata(self, filename: str, fields: dict[str, Any]) -> None:
        """Merge `fields` (history's `job_id`, `print_start_time`) into a file's metadata."""
        rel, _ = self.gcode_rel(filename)
        async with self.lock:
            current = self.cache.get(rel)
            if current is not None:
                await self.cache.put(rel, {**current, **fields})

    def printing_path(self) -> Path | None:
        """The real path of the file being printed (or paused), if any."""
        printer = self.host.get_component("printer")
        getter = getattr(printer, "printing_path", None)
        if not callable(getter):
            return None
        current = getter()
        return Path(os.path.realpath(current)) if current else None

    def can_modify_file(self, path: Path) -> bool:
        """Whether `path` (a file or a folder) neither is nor holds the file being printed."""
        printing = self.printing_path()
        if printing is None:
            return True
        real = Path(os.path.realpath(path))
        return not (real == printing or real in printing.parents)

    def check_modifiable(self, path: Path, shown: str, action: str) -> None:
        """Refuse (403) to `action` the printed file or a folder holding it."""
        if not self.can_modify_file(path):
            raise ApiError(f"File '{shown}' is being printed and cannot be {action}", 403)

    # -- lifecycle ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Load the cache, scan the roots, start the watcher; stop it on the way out."""
        for root in (self.roots.get("gcodes"), self.roots.get("config")):
            root.path.mkdir(parents=True, exist_ok=True)
        await self.cache.load()
        for name in self.known_files:
            stale = await self.host.run_in_thread(remove_stale_uploads, self.roots.get(name))
            if stale:
                self.log.info("removed %d unfinished upload(s): %s", len(stale), stale)
            files, dirs = await self.host.run_in_thread(walk_files, self.roots.get(name))
            self.known_files[name], self.known_dirs[name] = files, dirs
        self._spawn(self._refresh_cache())
        if self.config.enable_observer and self.config.file_system_observer != "none":
            for name in self.known_files:
                watcher = FolderWatcher(self.roots.get(name).real,
                                        functools.partial(self._on_outside_change, name),
                                        self.config.observer_debounce_ms)
                watcher.start()
                self.watchers[name] = watcher
        try:
            yield
        finally:
            for watcher in self.watchers.values():
                await watcher.stop()
            for task in list(self._background):
                task.cancel()
            if self._background:
                await asyncio.gather(*self._background, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _refresh_cache(self) -> None:
        """Bring the cache in line with the disk after a start: drop gone, scan new/changed."""
        async with self.lock:
            files = self.known_files["gcodes"]
            gone = [rel for rel in self.cache.entries if rel not in files]
            await self.cache.remove(gone)
            stale = [rel for rel, state in files.items()
                     if is_gcode(rel) and self.cache.state(rel) != state]
        for rel in stale:
            async with self.lock:
                if self.known_files["gcodes"].get(rel) != self.cache.state(rel):
                    await self.cache.scan(rel)
        self.cache_ready.set()

    # -- change tracking ------------------------------------------------------------------

    async def sync(self, root: Root, rels: Iterable[str]) -> TreeDiff:
        """Rescan subtrees of `root` after a change; update cache; fire file events.

        The caller holds `self.lock`. Untracked roots (logs) give an empty diff.
        """
        diff = TreeDiff(root)
        if root.name not in self.known_files:
            return diff
        known_files = self.known_files[root.name]
        known_dirs = self.known_dirs[root.name]
        tops = sorted(set(rels))
        tops = [r for r in tops if not any(_under(r, o) and r != o for o in tops)]
        for rel in tops:
            files, dirs = await self.host.run_in_thread(_scan_subtree, root, rel)
            old_files = {p: s for p, s in known_files.items() if _under(p, rel)}
            old_dirs = {d for d in known_dirs if _under(d, rel)}
            diff.created_dirs += sorted(dirs - old_dirs)
            diff.deleted_dirs += sorted(old_dirs - dirs)
            for path, state in sorted(files.items()):
                if path not in old_files:
                    diff.created_files.append(path)
                elif old_files[path] != state:
                    diff.modified_files.append(path)
            diff.deleted_files += sorted(set(old_files) - set(files))
            for path in old_files:
                known_files.pop(path, None)
            known_files.update(files)
            known_dirs.difference_update(old_dirs)
            known_dirs.update(dirs)
        if root.name == "gcodes":
            await self._update_cache(diff)
        self._fire_events(diff)
        return diff

    async def _update_cache(self, diff: TreeDiff) -> None:
        await self.cache.remove([p for p in diff.deleted_files if self.cache.get(p)])
        files = self.known_files["gcodes"]
        for rel in diff.created_files + diff.modified_files:
            if is_gcode(rel) and self.cache.state(rel) != files.get(rel):
                await self.cache.scan(rel)

    def _fire_events(self, diff: TreeDiff) -> None:
        storage = _storage(diff.root)
        fire = self.host.events.fire
        for rel in diff.deleted_files:
            name = rel.rsplit("/", 1)[-1]
            fire(Events.FILE_REMOVED, {"storage": storage, "path": rel, "name": name,
                                       "type": file_type(name)})
        for rel in diff.deleted_dirs:
            fire(Events.FOLDER_REMOVED, {"storage": storage, "path": rel,
                                         "name": rel.rsplit("/", 1)[-1]})
        for rel in diff.created_dirs:
            fire(Events.FOLDER_ADDED, {"storage": storage, "path": rel,
                                       "name": rel.rsplit("/", 1)[-1]})
        for rel in diff.created_files + diff.modified_files:
            name = rel.rsplit("/", 1)[-1]
            fire(Events.FILE_ADDED, {"storage": storage, "path": rel, "name": name,
                                     "type": file_type(name)})
        # folders count too: OctoPrint fires UpdatedFiles after adding or removing a folder
        if diff.root.name == "gcodes" and not diff.empty:
            fire(Events.UPDATED_FILES, {"type": "printables"})
            fire(Events.UPDATED_FILES, {"type": "gcode"})  # deprecated name, still sent

    # -- notifications --------------------------------------------------------------------

    def notify_change(self, action: str, item: dict[str, Any],
                      source_item: dict[str, Any] | None = None) -> None:
        """Send `notify_filelist_changed` for one change."""
        payload: dict[str, Any] = {"action": action, "item": item}
        if source_item is not None:
            payload["source_item"] = source_item
        self.host.notify("notify_filelist_changed", payload)

    def _item(self, root: Root, rel: str) -> dict[str, Any] | None:
        path = root.real / rel
        try:
            st = path.stat()
        except OSError:
            return None
        return {"path": rel, "root": root.name, "modified": st.st_mtime, "size": st.st_size,
                "permissions": root.permissions}

    def notify_diff(self, diff: TreeDiff) -> None:
        """One notification per change of a diff (outermost deleted folder only)."""
        root = diff.root
        for rel in diff.deleted_dirs:
            if not any(_under(rel, d) and rel != d for d in diff.deleted_dirs):
                self.notify_change("delete_dir", deleted_item(root, rel))
        for rel in diff.deleted_files:
            if not any(_under(rel, d) for d in diff.deleted_dirs):
                self.notify_change("delete_file", deleted_item(root, rel))
        for rel in diff.created_dirs:
            item = self._item(root, rel)
            if item is not None:
                self.notify_change("create_dir", item)
        for action, rels in (("create_file", diff.created_files),
                             ("modify_file", diff.modified_files)):
            for rel in rels:
                item = self._item(root, rel)
                if item is not None:
                    self.notify_change(action, item)

    async def _on_outside_change(self, root_name: str, paths: set[Path]) -> None:
        root = self.roots.get(root_name)
        rels = set()
        for path in paths:
            if path == root.real:
                rels.add("")  # the whole root (the watcher's catch-up after it started)
                continue
            located = self.roots.locate(path.parent)
            if located is None or located[0].name != root_name:
                continue
            rels.add(root.relative(path))
        if not rels:
            return
        async with self.lock:
            diff = await self.sync(root, rels)
        if not diff.empty:
            self.log.debug("outside changes in %s: %s", root_name, diff)
            self.notify_diff(diff)
