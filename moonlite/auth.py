"""Who may call what: API keys, trusted networks, users with JWTs, oneshot tokens, CORS origins."""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
from typing import TYPE_CHECKING, Any

import jwt
from aiohttp import web
from pydantic import Field, field_validator

from moonlite.config import SectionModel
from moonlite.rpc import ApiError, ApiMethod, Request, Transport

if TYPE_CHECKING:
    from moonlite.database import Database

TRUSTED_USER = "_TRUSTED_USER_"
API_KEY_USER = "_API_KEY_USER_"
ONESHOT_LIFETIME = 5.0
ACCESS_LIFETIME = 3600.0
JWT_ALGORITHM = "HS256"
#: a password hash costs ~100 ms of CPU and 16 MiB: it runs in a worker thread (login is
#: public, the event loop also feeds the printer) and one at a time (a password guesser gets
#: no more than one core, and the loop keeps the other)
HASH_CONCURRENCY = 1
#: hashed for an unknown user name too, so that the answer time does not tell names apart
DUMMY_SALT = "00" * 16

USER_MIGRATIONS = [
    "CREATE TABLE authorized_users (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL,"
    " salt TEXT NOT NULL, source TEXT NOT NULL, created_on REAL NOT NULL,"
    " jwt_secret TEXT NOT NULL)",
]


def _split_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.replace(",", "\n").splitlines() if v.strip()]
    return list(value or [])


class AuthorizationConfig(SectionModel):
    """The `[authorization]` section."""

    enable_api_key: bool = True
    trusted_clients: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    cors_domains: list[str] = Field(default_factory=list)
    force_logins: bool = False
    login_timeout: int = Field(90, description="days a refresh token stays valid", ge=1)
    default_source: str = "moonlite"

    @field_validator("trusted_clients", "cors_domains", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> list[str]:
        return _split_list(value)

    @field_validator("trusted_clients")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                if not all(c.isalnum() or c in "-._" for c in item):
                    raise ValueError(f"'{item}' is neither an IP, a CIDR range nor a host name")\
                        from None
        return value


def hash_password(password: str, salt: str) -> str:
    """scrypt hash of a password (hex)."""
    return hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1).hex()


def valid_username(username: str) -> bool:
    """Whether a new user may be called `username`: 1-64 printable characters, not only
    blanks, no leading `_` (reserved for the API-key and trusted pseudo-users)."""
    # isprintable() is False for control characters (and line/paragraph separators), which
    # would forge log lines or break the login form
    return (0 < len(username) <= 64 and not username.startswith("_")
            and username.isprintable() and not username.isspace())


class Auth:
    """Authentication state of the host: the API key, users, trusted networks, tokens."""

    def __init__(self, config: AuthorizationConfig) -> None:
        self.config = config
        self.api_key = ""
        self.users: dict[str, dict[str, Any]] = {}
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self._hosts: set[str] = set()
        self._oneshot: dict[str, tuple[float, dict[str, Any]]] = {}
        self._db: Database | None = None
        self._hashing = asyncio.Semaphore(HASH_CONCURRENCY)
        for item in config.trusted_clients:
            try:
                self._networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self._hosts.add(item.lower())

    async def load(self, db: Database) -> None:
        """Load (or create) the API key and the users from the database."""
        self._db = db
        db.register_namespace("authorization")
        await db.migrate("authorization", USER_MIGRATIONS)
        try:
            self.api_key = await db.get_item("authorization", "api_key")
        except ApiError:
            await self.regenerate_api_key()
        async with db.connection.execute(
            "SELECT username, password_hash, salt, source, created_on, jwt_secret "
            "FROM authorized_users"
        ) as cur:
            async for row in cur:
                self.users[row[0]] = dict(zip(
                    ("username", "password_hash", "salt", "source", "created_on", "jwt_secret"),
                    row, strict=True))

    async def regenerate_api_key(self) -> str:
        """Make a new API key (the old one stops working at once)."""
        self.api_key = secrets.token_hex(16)
        if self._db is not None:
            await self._db.post_item("authorization", "api_key", self.api_key)
        return self.api_key

    # -- users ----------------------------------------------------------------------------

    @property
    def db(self) -> Database:
        """The database the users live in."""
        if self._db is None:
            raise RuntimeError("auth not loaded")
        return self._db

    async def create_user(self, username: str, password: str, source: str = "moonlite"
                          ) -> dict[str, Any]:
        """Add a user; refuses reserved and existing names."""
        if not valid_username(username):
            raise ApiError(f"Invalid username {username!r}", 400)
        if username in self.users:
            raise ApiError(f"User '{username}' already exists", 409)
        if len(password) < 4:
            raise ApiError("Password too short", 400)
        salt = secrets.token_hex(16)
        user = {"username": username, "password_hash": await self._hash(password, salt),
                "salt": salt, "source": source, "created_on": time.time(),
                "jwt_secret": secrets.token_hex(32)}
        await self.db.connection.execute(
            "INSERT INTO authorized_users VALUES (?, ?, ?, ?, ?, ?)",
            tuple(user[k] for k in ("username", "password_hash", "salt", "source",
                                    "created_on", "jwt_secret")))
        await self.db.connection.commit()
        self.users[username] = user
        return user

    async def delete_user(self, username: str) -> dict[str, Any]:
        """Remove a user; their tokens stop working."""
        user = self.users.pop(username, None)
        if user is None:
            raise ApiError(f"No registered user: {username}", 404)
        await self.db.connection.execute(
            "DELETE FROM authorized_users WHERE username = ?", (username,))
        await self.db.connection.commit()
        return user

    async def set_password(self, username: str, password: str) -> None:
        """Change a password and revoke the user's tokens."""
        user = self.users[username]
        if len(password) < 4:
            raise ApiError("Password too short", 400)
        user["salt"] = secrets.token_hex(16)
        user["password_hash"] = await self._hash(password, user["salt"])
        await self.revoke_tokens(username)

    async def revoke_tokens(self, username: str) -> None:
        """Invalidate every token of a user (logout)."""
        user = self.users[username]
        user["jwt_secret"] = secrets.token_hex(32)
        await self.db.connection.execute(
            "UPDATE authorized_users SET jwt_secret = ?, password_hash = ?, salt = ? "
            "WHERE username = ?",
            (user["jwt_secret"], user["password_hash"], user["salt"], username))
        await self.db.connection.commit()

    async def _hash(self, password: str, salt: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(hash_password, password, salt)

    async def check_password(self, username: str, password: str) -> dict[str, Any]:
        """The user, if the password matches."""
        user = self.users.get(username)
        digest = await self._hash(password, user["salt"] if user else DUMMY_SALT)
        if user is None or not hmac.compare_digest(user["password_hash"], digest):
            raise ApiError("Invalid Username or Password", 401)
        return user

    def make_token(self, user: dict[str, Any], kind: str) -> str:
        """An access or refresh JWT for `user`."""
        lifetime = ACCESS_LIFETIME if kind == "access" else self.config.login_timeout * 86400.0
        now = time.time()
        claims = {"iss": "moonlite", "sub": user["username"], "iat": now, "exp": now + lifetime,
                  "token_type": kind, "jti": secrets.token_hex(8)}
        return jwt.encode(claims, user["jwt_secret"], algorithm=JWT_ALGORITHM)

    def user_from_token(self, token: str, kind: str = "access") -> dict[str, Any]:
        """Validate a JWT and return its user."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            user = self.users.get(str(unverified.get("sub")))
            if user is None:
                raise ApiError("Invalid token", 401)
            claims = jwt.decode(token, user["jwt_secret"], algorithms=[JWT_ALGORITHM])
        except jwt.ExpiredSignatureError:
            raise ApiError("JWT expired", 401) from None
        except jwt.PyJWTError:
            raise ApiError("Invalid token", 401) from None
        if claims.get("token_type") != kind:
            raise ApiError(f"Invalid token type: expected {kind}", 401)
        return self.public_user(user)

    @staticmethod
    def public_user(user: dict[str, Any]) -> dict[str, Any]:
        """What the API shows of a user."""
        return {"username": user["username"], "source": user.get("source", "moonlite"),
                "created_on": user.get("created_on", 0.0)}

    # -- oneshot tokens -------------------------------------------------------------------

    def oneshot_token(self, user: dict[str, Any] | None) -> str:
        """A token valid once, for 5 s, passed as `?token=`."""
        now = time.monotonic()
        for tok, (expiry, _) in list(self._oneshot.items()):
            if expiry < now:
                del self._oneshot[tok]
        token = secrets.token_urlsafe(24)
        self._oneshot[token] = (now + ONESHOT_LIFETIME, user or {"username": TRUSTED_USER})
        return token

    def _use_oneshot(self, token: str) -> dict[str, Any] | None:
        entry = self._oneshot.pop(token, None)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    # -- request checks -------------------------------------------------------------------

    def is_trusted(self, ip: str | None) -> bool:
        """Whether `ip` is in a trusted network (or resolves from a trusted host name)."""
        if not ip:
            return False
        try:
            addr = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        if any(addr in net for net in self._networks):
            return True
        if self._hosts:
            try:
                name = socket.getfqdn(str(addr)).lower()
            except OSError:
                return False
            return name in self._hosts or name.split(".", 1)[0] in self._hosts
        return False

    def api_key_user(self, key: str | None) -> dict[str, Any] | None:
        """The API-key pseudo user, if `key` is the API key."""
        if key and self.config.enable_api_key and self.api_key and \
                hmac.compare_digest(key, self.api_key):
            return {"username": API_KEY_USER, "source": "moonlite", "created_on": 0.0}
        return None

    def authenticate_http(self, request: web.Request, allow_anonymous: bool = False
                          ) -> dict[str, Any] | None:
        """The user a request acts as; None (or 401) when it carries no valid credential."""
        user = self.api_key_user(request.headers.get("X-Api-Key"))
        if user:
            return user
        bearer = request.headers.get("Authorization", "")
        token = bearer[7:].strip() if bearer.lower().startswith("bearer ") else ""
        token = token or request.query.get("access_token", "")
        if token:
            try:
                return self.user_from_token(token)
            except ApiError:
                if not allow_anonymous:
                    raise
        oneshot = request.query.get("token")
        if oneshot:
            user = self._use_oneshot(oneshot)
            if user is not None:
                return user
        # the cheap check first: is_trusted may look the caller's name up in DNS
        if not (self.config.force_logins and self.users) and self.is_trusted(request.remote):
            return {"username": TRUSTED_USER, "source": "moonlite", "created_on": 0.0}
        return None

    def check(self, method: ApiMethod, request: Request) -> None:
        """Refuse a protected method to an unauthenticated caller (401)."""
        if method.auth and request.user is None and request.transport is not Transport.INTERNAL:
            raise ApiError("Unauthorized", 401)

    def origin_allowed(self, request: web.Request) -> bool:
        """A browser origin is allowed when it is our own host or matches `cors_domains`."""
        origin = request.headers.get("Origin")
        if not origin:
            return True
        host = request.headers.get("Host", "")
        bare = origin.split("://", 1)[-1]
        if bare == host:
            return True
        return self.cors_match(origin)

    def cors_match(self, origin: str) -> bool:
        """Whether `origin` matches one of the configured CORS domains (wildcards allowed)."""
        bare = origin.split("://", 1)[-1]
        for pattern in self.config.cors_domains:
            pat = pattern.rstrip("/")
            if fnmatch.fnmatchcase(origin, pat) or fnmatch.fnmatchcase(bare, pat):
                return True
        return False
