"""`[authorization]`: Moonraker's access.* API (login, tokens, users, API key)."""

from __future__ import annotations

from typing import Any

from moonlite.auth import API_KEY_USER, TRUSTED_USER, Auth, AuthorizationConfig
from moonlite.component import Component
from moonlite.rpc import ApiError, Request, Transport, api

HTTP_WS = Transport.HTTP | Transport.WEBSOCKET


class Authorization(Component):
    """Users, JWT login/refresh/logout, oneshot tokens and the API key."""

    name = "authorization"
    # the host validates and applies `[authorization]` before any component loads
    Config = AuthorizationConfig

    @property
    def auth(self) -> Auth:
        """The host's auth state."""
        return self.host.auth

    def _login_result(self, user: dict[str, Any], action: str) -> dict[str, Any]:
        return {"username": user["username"], "token": self.auth.make_token(user, "access"),
                "refresh_token": self.auth.make_token(user, "refresh"),
                "action": action, "source": user.get("source", "moonlite")}

    @api("access.info", transports=HTTP_WS, auth=False)
    async def info(self, request: Request) -> dict[str, Any]:
        """Login options and whether this caller is trusted."""
        return {"default_source": self.auth.config.default_source,
                "available_sources": ["moonlite"],
                "login_required": self.auth.config.force_logins and bool(self.auth.users),
                "trusted": self.auth.is_trusted(request.ip)}

    @api("access.login", "POST", transports=HTTP_WS, auth=False)
    async def login(self, username: str, password: str, source: str = "moonlite"
                    ) -> dict[str, Any]:
        """Check a password; answer an access token and a refresh token."""
        user = await self.auth.check_password(username, password)
        return self._login_result(user, "user_logged_in")

    @api("access.refresh_jwt", "POST", transports=HTTP_WS, auth=False)
    async def refresh_jwt(self, refresh_token: str) -> dict[str, Any]:
        """A new access token from a refresh token."""
        user = self.auth.user_from_token(refresh_token, kind="refresh")
        full = self.auth.users[user["username"]]
        return {"username": user["username"], "token": self.auth.make_token(full, "access"),
                "source": user["source"], "action": "user_jwt_refresh"}

    @api("access.logout", "POST", transports=HTTP_WS)
    async def logout(self, request: Request) -> dict[str, Any]:
        """Revoke the caller's tokens."""
        name = self._real_user(request)
        await self.auth.revoke_tokens(name)
        self.host.notify("notify_user_logged_out", {"username": name})
        return {"username": name, "action": "user_logged_out"}

    @api("access.get_user", transports=HTTP_WS)
    async def get_user(self, request: Request) -> dict[str, Any]:
        """The caller's user record."""
        return self.auth.public_user(request.user or {"username": None})

    @api("access.post_user", "POST", transports=HTTP_WS)
    async def post_user(self, username: str, password: str) -> dict[str, Any]:
        """Create a user and log it in."""
        user = await self.auth.create_user(username, password)
        self.host.notify("notify_user_created", {"username": username})
        return self._login_result(user, "user_created")

    @api("access.delete_user", "DELETE", transports=HTTP_WS)
    async def delete_user(self, request: Request, username: str) -> dict[str, Any]:
        """Delete a user (not yourself)."""
        if request.user and request.user.get("username") == username:
            raise ApiError("Cannot delete logged in user", 400)
        await self.auth.delete_user(username)
        self.host.notify("notify_user_deleted", {"username": username})
        return {"username": username, "action": "user_deleted"}

    @api("access.users.list", transports=HTTP_WS)
    async def users_list(self) -> dict[str, Any]:
        """Every user."""
        return {"users": [self.auth.public_user(u) for u in self.auth.users.values()]}

    @api("access.user.password", "POST", transports=HTTP_WS)
    async def reset_password(self, request: Request, password: str, new_password: str
                             ) -> dict[str, Any]:
        """Change the caller's password (tokens are revoked)."""
        name = self._real_user(request)
        await self.auth.check_password(name, password)
        await self.auth.set_password(name, new_password)
        return {"username": name, "action": "user_password_reset"}

    @api("access.get_api_key", transports=HTTP_WS)
    async def get_api_key(self) -> str:
        """The API key."""
        return self.auth.api_key

    @api("access.post_api_key", "POST", transports=HTTP_WS)
    async def post_api_key(self) -> str:
        """Generate a new API key."""
        return await self.auth.regenerate_api_key()

    @api("access.oneshot_token", transports=HTTP_WS)
    async def oneshot_token(self, request: Request) -> str:
        """A token valid once for 5 seconds (for `?token=` on URLs and websocket upgrades)."""
        return self.auth.oneshot_token(request.user)

    @staticmethod
    def _real_user(request: Request) -> str:
        name = str((request.user or {}).get("username", ""))
        if not name or name in (TRUSTED_USER, API_KEY_USER):
            raise ApiError("No logged in user", 400)
        return name


COMPONENT = Authorization
