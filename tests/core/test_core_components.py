"""The component loader: dependency order, lifespans, failures isolated, OpenAPI of the result."""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from moonlite.component import Component, order_by_dependencies
from moonlite.config import ConfigError, SectionModel
from moonlite.rpc import api
from moonlite.testing import RpcClient, running_host

#: what the test components did, in order
JOURNAL: list[str] = []


class RecordingComponent(Component):
    """Writes its start and stop into JOURNAL."""

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Record start and stop."""
        JOURNAL.append(f"start {self.name}")
        yield
        JOURNAL.append(f"stop {self.name}")


class BaseConfig(SectionModel):
    """Options of `t_base`."""

    greeting: str = "hello"


class Base(RecordingComponent):
    """Depended on by the others."""

    name = "t_base"
    Config = BaseConfig

    @api("server.t_base.greet")
    async def greet(self, who: str, times: int = 1) -> str:
        """Greet someone (an API method of a loaded component)."""
        return " ".join([f"{self.config.greeting} {who}"] * times)


class Middle(RecordingComponent):
    """Needs t_base."""

    name = "t_middle"
    requires = ("t_base",)


class Top(RecordingComponent):
    """Needs t_middle and t_base."""

    name = "t_top"
    requires = ("t_middle", "t_base")


class Broken(Component):
    """Fails while starting."""

    name = "t_broken"

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Fail."""
        raise RuntimeError("no hardware here")
        yield  # pragma: no cover

    @api("server.t_broken.ping")
    async def ping(self) -> str:
        """Never served: the component failed."""
        return "pong"


class NeedsBroken(RecordingComponent):
    """Needs a component whose config is invalid."""

    name = "t_dependent"
    requires = ("webcam",)


@pytest.fixture
def test_components(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the classes above importable as moonlite.components.t_*."""
    JOURNAL.clear()
    for cls in (Base, Middle, Top, Broken, NeedsBroken):
        module = types.ModuleType(f"moonlite.components.{cls.name}")
        module.COMPONENT = cls  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, module.__name__, module)


async def test_lifespans_in_dependency_order(tmp_path: Path, test_components: None) -> None:
    # configured in the reverse of the order they must start in
    text = "[t_top]\n[t_middle]\n[t_base]\ngreeting: hi\n"
    async with running_host(tmp_path / "data", text) as running:
        assert JOURNAL == ["start t_base", "start t_middle", "start t_top"]
        async with RpcClient.connect(running.ws_url) as client:
            assert await client.call("server.t_base.greet", {"who": "bob", "times": 2}) == \
                "hi bob hi bob"
            info = await client.call("server.info")
        names = info["components"]
        assert names.index("t_base") < names.index("t_middle") < names.index("t_top")
        assert info["failed_components"] == []
    assert JOURNAL[3:] == ["stop t_top", "stop t_middle", "stop t_base"]


async def test_failures_are_reported_and_the_rest_keep_running(
        tmp_path: Path, test_components: None) -> None:
    text = ("[t_base]\ngreeting: yo\n[t_broken]\n[webcam side]\nrotation: 45\n"
            "[t_dependent]\n[t_base_typo]\n")
    async with running_host(tmp_path / "data", text) as running, \
            aiohttp.ClientSession() as session:
        async with session.get(running.url + "/server/info") as resp:
            info = (await resp.json())["result"]
        assert set(info["failed_components"]) == {"t_broken", "webcam", "t_dependent",
                                                  "t_base_typo"}
        warnings = "\n".join(info["warnings"])
        assert "start-up failed: no hardware here" in warnings
        assert "[webcam side] option 'rotation'" in warnings
        assert "'t_dependent' not loaded: a requirement failed" in warnings
        assert "[t_base_typo]: unknown config section" in warnings
        for failed in ("t_broken", "webcam", "t_dependent"):
            assert failed not in info["components"]
        assert {"t_base", "machine", "database", "announcements"} <= set(info["components"])
        # the failed component's methods are gone; the others answer
        async with RpcClient.connect(running.ws_url, session) as client:
            reply = await client.request("server.t_broken.ping")
            assert reply["error"]["code"] == -32601
            reply = await client.request("server.webcams.list")
            assert reply["error"]["code"] == -32601
            assert await client.call("server.t_base.greet", {"who": "al"}) == "yo al"
            assert (await client.call("machine.proc_stats"))["system_memory"]["total"] > 0
    assert "stop t_base" in JOURNAL


def test_order_by_dependencies_and_cycles() -> None:
    classes: dict[str, type[Component]] = {"t_top": Top, "t_middle": Middle, "t_base": Base}
    assert order_by_dependencies(classes) == ["t_base", "t_middle", "t_top"]

    class Loop1(Component):
        name = "loop1"
        requires = ("loop2",)

    class Loop2(Component):
        name = "loop2"
        requires = ("loop1",)

    with pytest.raises(ConfigError) as err:
        order_by_dependencies({"loop1": Loop1, "loop2": Loop2})
    assert "dependency cycle: loop1 -> loop2 -> loop1" in str(err.value)
    with pytest.raises(ConfigError) as err:
        order_by_dependencies({"t_middle": Middle})
    assert "requires 't_base'" in str(err.value)


async def test_openapi_document_lists_http_methods(tmp_path: Path,
                                                   test_components: None) -> None:
    async with running_host(tmp_path / "data", "[t_base]\n") as running, \
            aiohttp.ClientSession() as session:
        async with session.get(running.url + "/server/openapi.json") as resp:
            assert resp.status == 200
            doc: dict[str, Any] = await resp.json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    item = paths["/server/database/item"]
    assert set(item) == {"get", "post", "delete"}
    get_params = {p["name"]: p for p in item["get"]["parameters"]}
    assert get_params["namespace"]["required"] is True
    assert get_params["key"]["required"] is False
    post_body = item["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(post_body["required"]) == {"namespace", "key", "value"}
    assert item["get"]["operationId"] == "server.database.get_item"
    greet = paths["/server/t_base/greet"]["get"]
    assert greet["summary"] == "Greet someone (an API method of a loaded component)."
    greet_params = {p["name"]: p for p in greet["parameters"]}
    assert greet_params["times"]["schema"]["type"] == "integer"
    assert paths["/access/login"]["post"]["security"] == []
    assert "/server/info" in paths and "/machine/proc_stats" in paths
    # websocket-only methods have no HTTP path
    assert not any("identify" in p for p in paths)
