"""BlueprintPlugin and AssetPlugin: routes under /plugin/<identifier>/ and static files."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from moonlite.plugins import AssetPlugin, BlueprintPlugin


class BlueprintDemo(BlueprintPlugin, AssetPlugin):
    """Protected, CSRF-protected routes; JSON errors under /echo, /items and /fail only."""

    __plugin_name__ = "Blueprint example"
    __plugin_version__ = "1.0.0"

    def __init__(self) -> None:
        self.items: dict[int, str] = {1: "first"}

    @BlueprintPlugin.route("/echo", methods=["GET"])
    async def echo(self, request: web.Request) -> Any:
        """Text back; 400 when `text` is missing."""
        if "text" not in request.query:
            raise web.HTTPBadRequest(text="Expected a text to echo back.")
        return request.query["text"]

    @BlueprintPlugin.route("/items/<int:item_id>", methods=["GET"])
    def get_item(self, request: web.Request) -> Any:
        """Flask-style variables arrive in request.match_info."""
        item_id = int(request.match_info["item_id"])
        if item_id not in self.items:
            raise web.HTTPNotFound(text=f"No item {item_id}")
        return {"id": item_id, "name": self.items[item_id]}

    @BlueprintPlugin.route("/items", methods=["POST"])
    async def add_item(self, request: web.Request) -> Any:
        """A state-changing route: subject to CSRF protection."""
        body = await request.json()
        item_id = max(self.items) + 1
        self.items[item_id] = str(body["name"])
        return {"id": item_id}, 201

    @BlueprintPlugin.route("/hook", methods=["POST"])
    @BlueprintPlugin.csrf_exempt()
    async def hook(self, request: web.Request) -> Any:
        """Exempt from CSRF (e.g. a webhook with its own secret)."""
        return {"hooked": True}

    @BlueprintPlugin.route("/fail", methods=["GET"])
    def fail(self, request: web.Request) -> Any:
        """An unexpected error becomes a JSON 500; the server carries on."""
        raise RuntimeError("example failure")

    @BlueprintPlugin.route("/page/<name>", methods=["GET"])
    def page(self, request: web.Request) -> Any:
        """Not under an API prefix: errors are HTML."""
        if request.match_info["name"] != "home":
            raise web.HTTPNotFound(text="no such page")
        return "<html><body>home</body></html>"

    def get_blueprint_api_prefixes(self) -> list[str]:
        """JSON errors only here."""
        return ["/echo", "/items", "/fail"]

    def is_blueprint_csrf_protected(self) -> bool:
        """State-changing requests need CSRF protection."""
        return True

    def get_assets(self) -> dict[str, list[str]]:
        """Files under static/."""
        return {"js": ["js/example.js"], "css": ["css/example.css"]}


class PublicBlueprintDemo(BlueprintPlugin):
    """A blueprint anyone may call (the plugin checks access itself)."""

    __plugin_name__ = "Public blueprint example"
    __plugin_version__ = "1.0.0"

    @BlueprintPlugin.route("/ping", methods=["GET"])
    def ping(self, request: web.Request) -> Any:
        """No credential needed."""
        return {"pong": True}

    @BlueprintPlugin.route("/lost", methods=["GET"])
    def lost(self, request: web.Request) -> Any:
        """Always 404: answered by the error handler below."""
        raise web.HTTPNotFound(text="nothing here")

    @BlueprintPlugin.errorhandler(404)
    def not_found(self, error: Exception) -> Any:
        """This blueprint's own 404 answer."""
        return {"lost": True, "why": getattr(error, "text", str(error))}, 404

    def is_blueprint_protected(self) -> bool:
        """Open to anonymous callers."""
        return False

    def is_blueprint_csrf_protected(self) -> bool:
        """GET-only: nothing to protect."""
        return False
