"""`[database]`: Moonraker's server.database.* API over the host's SQLite store."""

from __future__ import annotations

import time
from typing import Any

from moonlite.component import Component
from moonlite.database import Key, key_text, split_key
from moonlite.rpc import ApiError, api


class DatabaseApi(Component):
    """Namespaced items, backups, restore and compaction, as Moonraker serves them."""

    name = "database"

    @property
    def db(self) -> Any:
        """The host's database."""
        return self.host.database

    @api("server.database.list")
    async def list_namespaces(self, root: str | None = None) -> dict[str, Any]:
        """Namespaces and backup files (`root` is legacy and ignored)."""
        namespaces = [ns for ns in await self.db.namespaces() if ns not in ("database",
                                                                             "authorization")]
        return {"namespaces": namespaces, "backups": self.db.backups()}

    @api("server.database.get_item")
    async def get_item(self, namespace: str, key: Key = None) -> dict[str, Any]:
        """One item (a dotted key) or, without `key`, the whole namespace."""
        self._check(namespace, write=False)
        value = await self.db.get_item(namespace, key)
        return {"namespace": namespace, "key": self._key_out(key), "value": value}

    @api("server.database.post_item", "POST")
    async def post_item(self, namespace: str, key: Key, value: Any) -> dict[str, Any]:
        """Create or replace an item; intermediate objects of a dotted key are created."""
        self._check(namespace, write=True)
        await self.db.post_item(namespace, key, value)
        return {"namespace": namespace, "key": self._key_out(key), "value": value}

    @api("server.database.delete_item", "DELETE")
    async def delete_item(self, namespace: str, key: Key) -> dict[str, Any]:
        """Remove an item and return the value it held."""
        self._check(namespace, write=True)
        value = await self.db.delete_item(namespace, key)
        return {"namespace": namespace, "key": self._key_out(key), "value": value}

    @api("server.database.compact", "POST")
    async def compact(self) -> dict[str, int]:
        """Reclaim free space in the database file."""
        result: dict[str, int] = await self.db.compact()
        return result

    @api("server.database.post_backup", "POST")
    async def post_backup(self, filename: str | None = None) -> dict[str, str]:
        """Write a backup of the database (default name: `sqldb-backup-<date>.db`)."""
        name = filename or time.strftime("sqldb-backup-%Y%m%d-%H%M%S.db")
        path = await self.db.backup(name)
        return {"backup_path": str(path)}

    @api("server.database.delete_backup", "DELETE")
    async def delete_backup(self, filename: str) -> dict[str, str]:
        """Remove a backup file."""
        path = self.db.backup_path(filename)
        await self.db.delete_backup(filename)
        return {"backup_path": str(path)}

    @api("server.database.restore", "POST")
    async def restore(self, filename: str) -> dict[str, Any]:
        """Replace the database contents with a backup (the server restarts afterwards)."""
        await self.db.restore(filename)
        namespaces = await self.db.namespaces()
        self.host.request_restart()
        return {"restored_tables": ["namespace_store", "table_registry"],
                "restored_namespaces": namespaces}

    def _check(self, namespace: str, write: bool) -> None:
        if not namespace:
            raise ApiError("No data for argument: namespace", 400)
        self.db.check_access(namespace, write)

    @staticmethod
    def _key_out(key: Key) -> str | None:
        parts = split_key(key)
        return key_text(parts) if parts else None


COMPONENT = DatabaseApi
