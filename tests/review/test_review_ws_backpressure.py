"""Review: one websocket client cannot keep an unbounded number of requests in progress."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from moonlite.rpc import Transport
from moonlite.testing import running_host
from moonlite.websocket import MAX_PENDING_REQUESTS

SENT = MAX_PENDING_REQUESTS + 100


async def test_requests_in_progress_are_bounded_per_client(tmp_path: Path) -> None:
    running_now = 0
    most = 0
    filled = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> str:
        """Stays in progress until the test releases it."""
        nonlocal running_now, most
        running_now += 1
        most = max(most, running_now)
        if running_now >= MAX_PENDING_REQUESTS:
            filled.set()
        try:
            await release.wait()
        finally:
            running_now -= 1
        return "done"

    async with running_host(tmp_path / "data", "") as running, \
            aiohttp.ClientSession() as session:
        running.host.registry.register("review.hold", hold, transports=Transport.WEBSOCKET)
        async with session.ws_connect(running.ws_url) as ws:
            for req_id in range(SENT):
                await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": "review.hold",
                                              "id": req_id}))
            await asyncio.wait_for(filled.wait(), 10)
            release.set()
            answered: set[int] = set()
            while len(answered) < SENT:
                reply = json.loads((await ws.receive(timeout=10)).data)
                if "id" in reply:
                    assert reply["result"] == "done"
                    answered.add(reply["id"])
        assert answered == set(range(SENT))
        assert most <= MAX_PENDING_REQUESTS
