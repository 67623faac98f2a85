"""SimpleApiPlugin: GET and JSON commands at /api/plugin/<identifier>."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from moonlite.plugins import SimpleApiPlugin


class SimpleApiDemo(SimpleApiPlugin):
    """`greet` needs `name`; `count` needs nothing and answers 204."""

    __plugin_name__ = "Simple API example"
    __plugin_version__ = "1.0.0"

    def __init__(self) -> None:
        self.counter = 0

    def get_api_commands(self) -> dict[str, list[str]]:
        """Commands and their mandatory parameters."""
        return {"greet": ["name"], "count": [], "greet_formally": ["title", "name"],
                "find": ["what"]}

    async def on_api_command(self, command: str, data: dict[str, Any]) -> Any:
        """A dict becomes JSON; None becomes 204 No Content."""
        if command == "count":
            self.counter += 1
            return None
        if command == "find":
            raise web.HTTPNotFound(text=f"No {data['what']} here")  # an answer, not a failure
        if command == "greet_formally":
            return {"greeting": f"Good day, {data['title']} {data['name']}"}
        return {"greeting": f"Hello {data['name']}"}

    def on_api_get(self, request: web.Request) -> Any:
        """`?empty=1` answers 204; otherwise the counter."""
        if request.query.get("empty"):
            return None
        return {"counter": self.counter}


class AdminApiDemo(SimpleApiDemo):
    """The same API, for admins only (API key, trusted clients, `admin_users`)."""

    __plugin_name__ = "Admin API example"

    def is_api_adminonly(self) -> bool:
        """Only admins."""
        return True
