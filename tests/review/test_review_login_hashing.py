"""Review: password hashing (public login, ~100 ms of CPU) runs off the event loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import aiohttp
import pytest

from moonlite import auth
from moonlite.testing import running_host


async def test_logins_hash_in_worker_threads(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    real_hash = auth.hash_password

    def recording_hash(password: str, salt: str) -> str:
        threads.append(threading.current_thread())
        return real_hash(password, salt)

    monkeypatch.setattr(auth, "hash_password", recording_hash)
    async with running_host(tmp_path / "data", "") as running, \
            aiohttp.ClientSession() as session:
        async with session.post(running.url + "/access/user",
                                json={"username": "bob", "password": "right-pw"}) as resp:
            assert resp.status == 200

        async def login(name: str, password: str) -> int:
            async with session.post(running.url + "/access/login",
                                    json={"username": name, "password": password}) as resp:
                return resp.status

        statuses = await asyncio.gather(login("bob", "wrong"), login("nobody", "wrong"),
                                        login("bob", "right-pw"))
        assert statuses == [401, 401, 200]
    # an unknown name is hashed too (same answer time as a known one)
    assert len(threads) == 4
    assert threading.main_thread() not in threads


async def test_hashing_is_bounded_and_the_loop_answers_meanwhile(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", "") as running, \
            aiohttp.ClientSession() as session:
        hashing = running.host.auth._hashing
        for _ in range(auth.HASH_CONCURRENCY):
            await hashing.acquire()  # every hasher busy
        login = asyncio.create_task(session.post(
            running.url + "/access/login", json={"username": "x", "password": "y"}))
        async with session.get(running.url + "/server/info") as resp:
            assert resp.status == 200
        assert not login.done()
        for _ in range(auth.HASH_CONCURRENCY):
            hashing.release()
        async with await login as resp:
            assert resp.status == 401
