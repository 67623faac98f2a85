"""Shared pieces of the history tests: Print* payloads as the printer component fires them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from moonlite.component import Component
from moonlite.config import Section
from moonlite.server import Host
from moonlite.testing import RpcClient

CONFIG = "[history]\n"


def started(path: str, origin: str = "local", source: str = "api") -> dict[str, Any]:
    """A PrintStarted payload (contracts.md), deprecated keys included."""
    name = path.rsplit("/", 1)[-1]
    return {"name": name, "path": path, "origin": origin, "size": 1234,
            "file": path, "filename": name, "job_source": source}


def finished(path: str, print_duration: float, total_duration: float,
             filament_used: float, **extra: Any) -> dict[str, Any]:
    """A PrintDone/PrintFailed/PrintCancelled payload with the extra duration keys."""
    name = path.rsplit("/", 1)[-1]
    return {"name": name, "path": path, "origin": "local", "file": path, "filename": name,
            "time": total_duration, "print_duration": print_duration,
            "total_duration": total_duration, "filament_used": filament_used, **extra}


class MetadataFiles(Component):
    """Stands in for the files component's `get_metadata` until that component exists."""

    name = "file_manager"

    def __init__(self, host: Host, metadata: dict[str, dict[str, Any]]) -> None:
        super().__init__(host, None, Section(name="file_manager"))
        self.metadata = metadata
        self.gcodes_root = host.paths.gcodes

    async def get_metadata(self, filename: str) -> dict[str, Any] | None:
        """The stored metadata of `filename` (a copy, as a cache would hand out)."""
        found = self.metadata.get(filename)
        return dict(found) if found is not None else None

    async def update_metadata(self, filename: str, fields: dict[str, Any]) -> None:
        """Merge `fields` into the stored metadata (history marks the job that printed it)."""
        self.metadata.setdefault(filename, {}).update(fields)


def put_gcode(host: Host, relative: str, text: str = "G28\n") -> Path:
    """Create a G-code file inside the host's gcodes root."""
    path = host.paths.gcodes / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


async def next_change(client: RpcClient, action: str, filename: str) -> dict[str, Any]:
    """The next notify_history_changed for `filename` with `action` (earlier ones skipped)."""
    while True:
        note = await client.next_notification("notify_history_changed")
        change: dict[str, Any] = note["params"][0]
        if change["action"] == action and change["job"]["filename"] == filename:
            return change["job"]
