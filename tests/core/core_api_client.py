"""Client helpers of the core tests: one API, three transports, two auth modes."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from moonlite.testing import RpcCallError, RpcClient, RunningHost, running_host

#: 127.0.0.1 is not in this range, so a caller needs a credential
LOCKED = "[authorization]\ntrusted_clients: 10.0.0.0/8\n"


@dataclass
class Api:
    """One running host plus the credentials a client of the given auth mode uses."""

    running: RunningHost
    session: aiohttp.ClientSession
    mode: str  # "trusted" (loopback trusted) or "api_key" (nothing trusted)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Base HTTP URL."""
        return self.running.url

    async def http(self, verb: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """An HTTP call with this mode's credentials; the decoded JSON body (None if empty)."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        async with self.session.request(verb, self.url + path, headers=headers,
                                        **kwargs) as resp:
            raw = await resp.read()
            return resp.status, json.loads(raw) if raw else None

    async def jsonrpc(self, payload: Any) -> tuple[int, Any]:
        """`POST /server/jsonrpc` with a JSON-RPC message (or batch)."""
        return await self.http("POST", "/server/jsonrpc", data=json.dumps(payload),
                               headers={"Content-Type": "application/json"})

    async def call(self, transport: str, method: str, params: dict[str, Any] | None = None,
                   client: RpcClient | None = None) -> Any:
        """Call `method` over "ws" (needs `client`), "http" (its Moonraker path) or "jsonrpc".

        Returns the result; raises `CallFailed` with the JSON-RPC code or the HTTP status.
        """
        params = params or {}
        if transport == "ws":
            assert client is not None
            return await client.call(method, params)
        if transport == "jsonrpc":
            status, body = await self.jsonrpc(
                {"jsonrpc": "2.0", "method": method, "params": params, "id": 7})
            assert status == 200, body
            assert body["id"] == 7
            if "error" in body:
                raise CallFailed(body["error"]["code"], body["error"]["message"])
            return body["result"]
        spec = self.running.host.registry.methods[method]
        verb = spec.verbs[0]
        assert spec.path is not None, f"{method} has no HTTP path"
        if verb in ("GET", "DELETE"):
            query = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
            query = {(k if isinstance(params[k], str) else f"{k}:json"): v
                     for k, v in query.items()}
            status, body = await self.http(verb, spec.path, params=query)
        else:
            status, body = await self.http(verb, spec.path, json=params)
        if status >= 400:
            assert body["error"]["code"] == status
            raise CallFailed(status, body["error"]["message"])
        if status == 204:
            return None
        assert status == 200, body
        return body["result"]

    @contextlib.asynccontextmanager
    async def caller(self, transport: str) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
        """`call(method, params)` bound to one transport (a websocket opened for "ws")."""
        if transport == "ws":
            async with self.ws() as client:
                yield functools.partial(self.call, "ws", client=client)
        else:
            yield functools.partial(self.call, transport)

    @contextlib.asynccontextmanager
    async def ws(self, identify: bool = True) -> AsyncIterator[RpcClient]:
        """A websocket client, identified (with the API key in the locked mode)."""
        async with RpcClient.connect(self.running.ws_url, self.session) as client:
            if identify:
                params: dict[str, Any] = {"client_name": "pytest", "version": "1.0",
                                          "type": "other", "url": "http://test"}
                if self.mode == "api_key":
                    params["api_key"] = self.running.host.auth.api_key
                await client.call("server.connection.identify", params)
            yield client


#: an error answer: the JSON-RPC code (websocket, jsonrpc) or HTTP status, and message
CallFailed = RpcCallError


@contextlib.asynccontextmanager
async def open_api(data_dir: Path, mode: str, config: str = "") -> AsyncIterator[Api]:
    """Start a host for `mode` with the extra `config` text and yield an `Api`."""
    text = (LOCKED if mode == "api_key" else "") + config
    async with running_host(data_dir, text) as running, aiohttp.ClientSession() as session:
        api = Api(running, session, mode)
        if mode == "api_key":
            api.headers["X-Api-Key"] = running.host.auth.api_key
        yield api


TRANSPORTS = ["ws", "http", "jsonrpc"]
