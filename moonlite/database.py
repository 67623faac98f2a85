"""The SQLite store (aiosqlite, WAL, one file): namespaces, owned tables, migrations."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite

from moonlite.rpc import ApiError

DB_FILENAME = "moonlite.db"
#: read-only over the API; components that own them write through this class directly
DEFAULT_PROTECTED = {"moonraker", "moonlite", "gcode_metadata", "announcements", "history"}
#: no API access at all
FORBIDDEN = {"database"}

Key = str | list[str] | None


def split_key(key: Key) -> list[str]:
    """`"a.b.c"` or `["a", "b", "c"]` -> the key path; empty for the whole namespace."""
    if key is None or key == "":
        return []
    if isinstance(key, list):
        parts = [str(k) for k in key]
    else:
        parts = key.split(".")
    if any(p == "" for p in parts):
        raise ApiError(f"Invalid key: {key!r}", 400)
    return parts


def key_text(parts: list[str]) -> str:
    """The dotted form of a key path."""
    return ".".join(parts)


class Database:
    """One SQLite file, opened once; every write is committed before the call returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.backup_dir = path.parent / "backup"
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self.protected: set[str] = set(DEFAULT_PROTECTED)

    @property
    def connection(self) -> aiosqlite.Connection:
        """The open connection, for components that own tables."""
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def open(self) -> None:
        """Open (creating) the file, switch to WAL and create the core tables."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = await aiosqlite.connect(self.path)
        await self._conn.execute("PRAGMA journal_mode=WAL")
        await self._conn.execute("PRAGMA synchronous=NORMAL")
        await self._conn.execute(
            "CREATE TABLE IF NOT EXISTS namespace_store ("
            "namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
            " PRIMARY KEY (namespace, key))"
        )
        await self._conn.execute(
            "CREATE TABLE IF NOT EXISTS table_registry ("
            "owner TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        await self._conn.commit()

    async def close(self) -> None:
        """Checkpoint and close."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    # -- migrations -----------------------------------------------------------------------

    async def migrate(self, owner: str, migrations: list[str]) -> int:
        """Apply `migrations[version:]` for `owner` in one transaction; return the new version.

        Each entry is one SQL script; entries are never edited once released, only appended.
        """
        async with self._lock:
            conn = self.connection
            async with conn.execute(
                "SELECT version FROM table_registry WHERE owner = ?", (owner,)
            ) as cur:
                row = await cur.fetchone()
            version = int(row[0]) if row else 0
            if version >= len(migrations):
                return version
            try:
                for script in migrations[version:]:
                    for statement in _statements(script):
                        await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO table_registry(owner, version) VALUES(?, ?) "
                    "ON CONFLICT(owner) DO UPDATE SET version = excluded.version",
                    (owner, len(migrations)),
                )
                await conn.commit()
            except Exception:
                await conn.rollback()
                raise
            return len(migrations)

    # -- namespaces -----------------------------------------------------------------------

    def register_namespace(self, namespace: str, protected: bool = True) -> None:
        """Declare a namespace a component owns; protected ones are read-only over the API."""
        if protected:
            self.protected.add(namespace)

    def check_access(self, namespace: str, write: bool) -> None:
        """Refuse API access to forbidden namespaces and API writes to protected ones."""
        if namespace in FORBIDDEN:
            raise ApiError(f"Read/Write access to namespace '{namespace}' is forbidden", 403)
        if write and namespace in self.protected:
            raise ApiError(f"Write access to namespace '{namespace}' is forbidden", 403)

    async def namespaces(self) -> list[str]:
        """Every namespace that holds at least one key."""
        async with self.connection.execute(
            "SELECT DISTINCT namespace FROM namespace_store ORDER BY namespace"
        ) as cur:
            return [row[0] async for row in cur]

    async def _read_ns(self, namespace: str) -> dict[str, Any]:
        async with self.connection.execute(
            "SELECT key, value FROM namespace_store WHERE namespace = ?", (namespace,)
        ) as cur:
            return {row[0]: json.loads(row[1]) async for row in cur}

    async def _read_top(self, namespace: str, top: str) -> tuple[bool, Any]:
        async with self.connection.execute(
            "SELECT value FROM namespace_store WHERE namespace = ? AND key = ?", (namespace, top)
        ) as cur:
            row = await cur.fetchone()
        return (False, None) if row is None else (True, json.loads(row[0]))

    async def get_item(self, namespace: str, key: Key = None) -> Any:
        """The value at `key` (dotted path) in `namespace`, or the whole namespace."""
        parts = split_key(key)
        if not parts:
            value = await self._read_ns(namespace)
            if not value:
                raise ApiError(f"Namespace '{namespace}' not found", 404)
            return value
        found, value = await self._read_top(namespace, parts[0])
        if not found:
            if not await self._has_namespace(namespace):
                raise ApiError(f"Namespace '{namespace}' not found", 404)
            raise ApiError(f"Key '{key_text(parts)}' in namespace '{namespace}' not found", 404)
        for i, part in enumerate(parts[1:], start=1):
            if not isinstance(value, dict) or part not in value:
                raise ApiError(
                    f"Key '{key_text(parts[: i + 1])}' in namespace '{namespace}' not found", 404
                )
            value = value[part]
        return value

    async def _has_namespace(self, namespace: str) -> bool:
        async with self.connection.execute(
            "SELECT 1 FROM namespace_store WHERE namespace = ? LIMIT 1", (namespace,)
        ) as cur:
            return await cur.fetchone() is not None

    async def post_item(self, namespace: str, key: Key, value: Any) -> Any:
        """Set `key` (creating intermediate objects); committed before returning."""
        parts = split_key(key)
        if not parts:
            raise ApiError("No data for argument: key", 400)
        try:
            encoded = json.dumps(value)
        except (TypeError, ValueError):
            raise ApiError("Value is not JSON serializable", 400) from None
        async with self._lock:
            if len(parts) > 1:
                _, top_value = await self._read_top(namespace, parts[0])
                if not isinstance(top_value, dict):
                    top_value = {}
                node = top_value
                for part in parts[1:-1]:
                    child = node.get(part)
                    if not isinstance(child, dict):
                        child = node[part] = {}
                    node = child
                node[parts[-1]] = value
                encoded = json.dumps(top_value)
            await self.connection.execute(
                "INSERT INTO namespace_store(namespace, key, value) VALUES(?, ?, ?) "
                "ON CONFLICT(namespace, key) DO UPDATE SET value = excluded.value",
                (namespace, parts[0], encoded),
            )
            await self.connection.commit()
        return value

    async def delete_item(self, namespace: str, key: Key) -> Any:
        """Remove `key` and return the value it held."""
        parts = split_key(key)
        if not parts:
            raise ApiError("No data for argument: key", 400)
        async with self._lock:
            old = await self.get_item(namespace, parts)
            if len(parts) == 1:
                await self.connection.execute(
                    "DELETE FROM namespace_store WHERE namespace = ? AND key = ?",
                    (namespace, parts[0]),
                )
            else:
                _, top_value = await self._read_top(namespace, parts[0])
                node = top_value
                for part in parts[1:-1]:
                    node = node[part]
                del node[parts[-1]]
                await self.connection.execute(
                    "UPDATE namespace_store SET value = ? WHERE namespace = ? AND key = ?",
                    (json.dumps(top_value), namespace, parts[0]),
                )
            await self.connection.commit()
        return old

    # -- maintenance ----------------------------------------------------------------------

    async def compact(self) -> dict[str, int]:
        """VACUUM the file; report the size before and after."""
        async with self._lock:
            before = self._size()
            await self._checkpoint()
            await self.connection.execute("VACUUM")
            await self._checkpoint()
            return {"previous_size": before, "new_size": self._size()}

    async def _checkpoint(self) -> None:
        # the pragma answers a row: an unread cursor is a statement in progress, and VACUUM
        # refuses to run while one is open
        async with self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cur:
            await cur.fetchall()

    def _size(self) -> int:
        return sum(
            p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists()
        )

    def backup_path(self, filename: str) -> Path:
        """Resolve a backup name inside the backup folder; refuse anything else."""
        if not filename or "/" in filename or "\\" in filename or filename.startswith(".") \
                or "\x00" in filename or len(filename) > 200:
            raise ApiError(f"Invalid backup file name: {filename!r}", 400)
        return self.backup_dir / filename

    def backups(self) -> list[str]:
        """Names of the backup files."""
        if not self.backup_dir.is_dir():
            return []
        return sorted(p.name for p in self.backup_dir.iterdir() if p.is_file())

    async def backup(self, filename: str) -> Path:
        """Write a consistent copy of the database to the backup folder."""
        target = self.backup_path(filename)
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        async with self._lock:
            dest = await aiosqlite.connect(target)
            try:
                await self.connection.backup(dest)
            finally:
                await dest.close()
        return target

    async def restore(self, filename: str) -> None:
        """Replace the live contents with a backup's (validated first)."""
        source = self.backup_path(filename)
        if not source.is_file():
            raise ApiError(f"Backup file '{filename}' not found", 404)
        try:
            # as_uri() percent-encodes the name: a '?', '#' or '%2F' in it must not become
            # URI syntax, or the check would read another file than the one restored
            check = await aiosqlite.connect(f"{source.as_uri()}?mode=ro", uri=True)
            try:
                async with check.execute("PRAGMA integrity_check") as cur:
                    row = await cur.fetchone()
                async with check.execute(
                    "SELECT name FROM sqlite_master WHERE name='namespace_store'"
                ) as cur:
                    has_store = await cur.fetchone() is not None
            finally:
                await check.close()
        except sqlite3.DatabaseError as exc:
            raise ApiError(f"Backup file '{filename}' is not a valid database: {exc}", 400) \
                from None
        if not row or row[0] != "ok" or not has_store:
            raise ApiError(f"Backup file '{filename}' is not a valid moonlite database", 400)
        async with self._lock:
            src = await aiosqlite.connect(source)
            try:
                await src.backup(self.connection)
            finally:
                await src.close()

    async def delete_backup(self, filename: str) -> None:
        """Remove a backup file."""
        target = self.backup_path(filename)
        if not target.is_file():
            raise ApiError(f"Backup file '{filename}' not found", 404)
        target.unlink()


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
