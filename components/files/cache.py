"""The G-code metadata cache: a table keyed by path with size and mtime, mirrored in memory."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moonlite.events import Events

from .fsops import FileState
from .metadata import extract_metadata

if TYPE_CHECKING:
    from moonlite.server import Host

log = logging.getLogger(__name__)

OWNER = "file_manager"
MIGRATIONS = [
    "CREATE TABLE file_metadata ("
    " path TEXT PRIMARY KEY, size INTEGER NOT NULL, modified REAL NOT NULL,"
    " metadata TEXT NOT NULL)",
]
THUMBS_DIR = ".thumbs"
UPSERT = ("INSERT OR REPLACE INTO file_metadata(path, size, modified, metadata) "
          "VALUES(?, ?, ?, ?)")


def _row(rel: str, metadata: dict[str, Any]) -> tuple[str, int, float, str]:
    """The file_metadata row of one entry."""
    return (rel, int(metadata.get("size", 0)), float(metadata.get("modified", 0.0)),
            json.dumps(metadata))


def extract(path: Path, rel: str) -> dict[str, Any]:
    """Metadata of the G-code at `path` (blocking: run in a worker), `filename` set to `rel`."""
    metadata = extract_metadata(path, path.parent / THUMBS_DIR)
    metadata["filename"] = rel
    return metadata


def remove_thumbnails(gcode_path: Path, metadata: dict[str, Any], real_root: Path) -> None:
    """Delete the thumbnail files a metadata entry lists (only ones inside the root)."""
    for thumb in metadata.get("thumbnails") or ():
        rel = thumb.get("relative_path") if isinstance(thumb, dict) else None
        if not isinstance(rel, str) or ".." in rel.split("/"):
            continue
        path = Path(os.path.realpath(gcode_path.parent / rel))
        if real_root in path.parents:
            path.unlink(missing_ok=True)


class MetadataCache:
    """Metadata by gcodes-relative path; every change is committed before it is reported."""

    def __init__(self, host: Host, gcodes: Path) -> None:
        self.host = host
        self.gcodes = gcodes
        self.entries: dict[str, dict[str, Any]] = {}

    async def load(self) -> None:
        """Create the table if needed and read every entry."""
        await self.host.database.migrate(OWNER, MIGRATIONS)
        async with self.host.database.connection.execute(
            "SELECT path, metadata FROM file_metadata"
        ) as cur:
            async for path, text in cur:
                try:
                    self.entries[path] = json.loads(text)
                except ValueError:
                    log.warning("dropping unreadable metadata of %s", path)

    def get(self, rel: str) -> dict[str, Any] | None:
        """The cached metadata of `rel`, if any."""
        return self.entries.get(rel)

    def state(self, rel: str) -> FileState | None:
        """(size, mtime) the cached entry of `rel` was made from."""
        entry = self.entries.get(rel)
        if entry is None:
            return None
        return int(entry.get("size", -1)), float(entry.get("modified", -1.0))

    async def put(self, rel: str, metadata: dict[str, Any]) -> None:
        """Store (replace) the entry of `rel`."""
        self.entries[rel] = metadata
        conn = self.host.database.connection
        await conn.execute(UPSERT, _row(rel, metadata))
        await conn.commit()

    async def remove(self, rels: list[str], *, thumbnails: bool = True) -> None:
        """Forget entries (and delete their thumbnails unless told not to)."""
        if not rels:
            return
        removed = {rel: self.entries.pop(rel) for rel in rels if rel in self.entries}
        if thumbnails and removed:
            real_root = Path(os.path.realpath(self.gcodes))
            await self.host.run_in_thread(self._remove_thumbs, removed, real_root)
        conn = self.host.database.connection
        await conn.executemany("DELETE FROM file_metadata WHERE path = ?",
                               [(rel,) for rel in rels])
        await conn.commit()

    def _remove_thumbs(self, removed: dict[str, dict[str, Any]], real_root: Path) -> None:
        for rel, metadata in removed.items():
            try:
                remove_thumbnails(self.gcodes / rel, metadata, real_root)
            except OSError as exc:
                log.info("cannot remove thumbnails of %s: %s", rel, exc)

    def under(self, prefix: str) -> list[str]:
        """Cached paths equal to `prefix` or inside the folder `prefix` ("" is everything)."""
        if not prefix:
            return list(self.entries)
        return [p for p in self.entries if p == prefix or p.startswith(prefix + "/")]

    async def rename_prefix(self, old: str, new: str) -> None:
        """Re-key entries after a folder moved (thumbnails moved with it)."""
        moved = {}
        old_keys = self.under(old)
        for rel in old_keys:
            new_rel = new + rel[len(old):]
            entry = dict(self.entries.pop(rel))
            entry["filename"] = new_rel
            moved[new_rel] = entry
        conn = self.host.database.connection
        await conn.executemany("DELETE FROM file_metadata WHERE path = ?",
                               [(rel,) for rel in old_keys])
        self.entries.update(moved)
        await conn.executemany(UPSERT, [_row(rel, entry) for rel, entry in moved.items()])
        await conn.commit()

    async def scan(self, rel: str) -> dict[str, Any] | None:
        """Extract and store the metadata of `rel`, firing the analysis events around it."""
        path = self.gcodes / rel
        name = path.name
        base = {"name": name, "path": rel, "origin": "local", "file": rel}
        self.host.events.fire(Events.METADATA_ANALYSIS_STARTED, base)
        try:
            metadata = await self.host.run_in_thread(extract, path, rel)
        except OSError as exc:
            log.info("cannot analyse %s: %s", rel, exc)
            return None
        await self.put(rel, metadata)
        self.host.events.fire(Events.METADATA_ANALYSIS_FINISHED, {**base, "result": metadata})
        return metadata
