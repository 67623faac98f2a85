"""Review: a foreign web page cannot make a trusted browser change anything (no preflight)."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from moonlite.testing import running_host

CONFIG = "[authorization]\ncors_domains: http://allowed.example\n"  # loopback trusted


async def test_simple_cross_site_posts_are_refused(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", CONFIG) as running, \
            aiohttp.ClientSession() as session:
        url = running.url + "/server/database/item"
        form = {"namespace": "review", "key": "k", "value": "v"}
        own = f"http://127.0.0.1:{running.port}"
        for origin, status in (("http://evil.example", 403), ("null", 403),
                               (None, 200), (own, 200), ("http://allowed.example", 200)):
            headers = {"Origin": origin} if origin else {}
            async with session.post(url, data=form, headers=headers) as resp:
                assert resp.status == status, origin
            async with session.delete(url + "?namespace=review&key=k",
                                      headers=headers) as resp:
                assert resp.status in ((403,) if status == 403 else (200,)), origin
        # reading stays open (the browser keeps the answer from the foreign page anyway)
        async with session.get(running.url + "/server/info",
                               headers={"Origin": "http://evil.example"}) as resp:
            assert resp.status == 200
            assert "Access-Control-Allow-Origin" not in resp.headers
