"""Smoke test of the core host over real sockets: HTTP and websocket answer server.info."""

from __future__ import annotations

import aiohttp

from moonlite.testing import RpcCallError, RpcClient, RunningHost


async def test_server_info_over_both_transports(core_host: RunningHost) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(core_host.url + "/server/info") as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body["result"]["api_version"] == [1, 5, 0]
        async with RpcClient.connect(core_host.ws_url, session) as client:
            info = await client.call("server.info")
            assert info["websocket_count"] == 1
            assert "database" in info["components"]
            try:
                await client.call("server.no_such_method")
            except RpcCallError as exc:
                assert exc.code == -32601
            else:
                raise AssertionError("unknown method answered")
