"""`[announcements]`: the announcements API; moonlite fetches no feeds, so the list is empty."""

from __future__ import annotations

from typing import Any

from moonlite.component import Component
from moonlite.rpc import api


class Announcements(Component):
    """Answers what frontends ask at start-up; there is no remote feed to fetch."""

    name = "announcements"

    @api("server.announcements.list")
    async def list_entries(self, include_dismissed: bool = True) -> dict[str, Any]:
        """Announcement entries (none) and subscribed feeds."""
        return {"entries": [], "feeds": []}

    @api("server.announcements.feeds")
    async def feeds(self) -> dict[str, Any]:
        """Subscribed feeds (none)."""
        return {"feeds": []}


COMPONENT = Announcements
