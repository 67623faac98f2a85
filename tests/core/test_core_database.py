"""server.database.*: namespaces, dotted keys, protected namespaces, backups, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest
from core_api_client import TRANSPORTS, Api, CallFailed, open_api


def not_found_code(transport: str) -> int:
    """404 over HTTP is -32601 over JSON-RPC (Moonraker's mapping)."""
    return 404 if transport == "http" else -32601


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_items_and_dotted_keys(api: Api, transport: str) -> None:
    async with api.caller(transport) as call:
        with pytest.raises(CallFailed) as err:
            await call("server.database.get_item", {"namespace": "fluidd"})
        assert err.value.code == not_found_code(transport)
        assert err.value.message == "Namespace 'fluidd' not found"

        posted = await call("server.database.post_item", {
            "namespace": "mainsail", "key": "general.printername", "value": "Printer 1"})
        assert posted == {"namespace": "mainsail", "key": "general.printername",
                          "value": "Printer 1"}
        await call("server.database.post_item", {
            "namespace": "mainsail", "key": ["general", "theme"], "value": {"dark": True}})
        await call("server.database.post_item", {
            "namespace": "mainsail", "key": "count", "value": 3})
        whole = await call("server.database.get_item", {"namespace": "mainsail"})
        assert whole == {"namespace": "mainsail", "key": None, "value": {
            "general": {"printername": "Printer 1", "theme": {"dark": True}}, "count": 3}}
        got = await call("server.database.get_item", {"namespace": "mainsail",
                                                      "key": "general.theme.dark"})
        assert got["value"] is True
        with pytest.raises(CallFailed) as err:
            await call("server.database.get_item", {"namespace": "mainsail",
                                                    "key": "general.missing"})
        assert err.value.code == not_found_code(transport)
        assert "general.missing" in err.value.message

        deleted = await call("server.database.delete_item", {
            "namespace": "mainsail", "key": "general.printername"})
        assert deleted["value"] == "Printer 1"
        whole = await call("server.database.get_item", {"namespace": "mainsail"})
        assert whole["value"]["general"] == {"theme": {"dark": True}}
        listing = await call("server.database.list", {"root": "config"})
        assert "mainsail" in listing["namespaces"]
        assert "authorization" not in listing["namespaces"]
        assert listing["backups"] == []

        with pytest.raises(CallFailed) as err:
            await call("server.database.post_item", {"namespace": "mainsail", "value": 1})
        assert err.value.code == (400 if transport == "http" else -32602)
        assert err.value.message == "No data for argument: key"
        with pytest.raises(CallFailed) as err:
            await call("server.database.post_item", {"namespace": "mainsail",
                                                     "key": "a..b", "value": 1})
        assert err.value.code == 400


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_protected_and_forbidden_namespaces(api: Api, transport: str) -> None:
    host = api.running.host
    await host.database.post_item("moonraker", "spoolman.spool_id", 7)
    async with api.caller(transport) as call:
        got = await call("server.database.get_item", {"namespace": "moonraker",
                                                      "key": "spoolman.spool_id"})
        assert got["value"] == 7
        for namespace in ("moonraker", "gcode_metadata", "history", "authorization"):
            with pytest.raises(CallFailed) as err:
                await call("server.database.post_item", {"namespace": namespace,
                                                         "key": "x", "value": 1})
            assert err.value.code == 403, namespace
            with pytest.raises(CallFailed) as err:
                await call("server.database.delete_item", {"namespace": namespace,
                                                           "key": "x"})
            assert err.value.code == 403
        with pytest.raises(CallFailed) as err:
            await call("server.database.get_item", {"namespace": "database"})
        assert err.value.code == 403
        assert "forbidden" in err.value.message


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_backup_restore_compact_and_persistence(tmp_path: Path, transport: str) -> None:
    data = tmp_path / "data"
    async with open_api(data, "trusted") as api, api.caller(transport) as call:
        await call("server.database.post_item", {"namespace": "fluidd", "key": "uiSettings",
                                                 "value": {"theme": "dark"}})
        backup = await call("server.database.post_backup", {"filename": "before.db"})
        assert Path(backup["backup_path"]).is_file()
        auto = await call("server.database.post_backup")
        assert Path(auto["backup_path"]).name.startswith("sqldb-backup-")
        listing = await call("server.database.list")
        assert set(listing["backups"]) == {"before.db", Path(auto["backup_path"]).name}
        removed = await call("server.database.delete_backup",
                             {"filename": Path(auto["backup_path"]).name})
        assert not Path(removed["backup_path"]).exists()
        for bad in ("../escape.db", ".hidden"):
            with pytest.raises(CallFailed) as err:
                await call("server.database.delete_backup", {"filename": bad})
            assert err.value.code == 400
        with pytest.raises(CallFailed) as err:
            await call("server.database.restore", {"filename": "missing.db"})
        assert err.value.code == not_found_code(transport)

        for i in range(50):
            await call("server.database.post_item", {"namespace": "junk", "key": f"k{i}",
                                                     "value": "x" * 2000})
        for i in range(50):
            await call("server.database.delete_item", {"namespace": "junk", "key": f"k{i}"})
        sizes = await call("server.database.compact")
        assert sizes["new_size"] < sizes["previous_size"]

        await call("server.database.post_item", {"namespace": "fluidd", "key": "uiSettings",
                                                 "value": {"theme": "light"}})
        restored = await call("server.database.restore", {"filename": "before.db"})
        assert "fluidd" in restored["restored_namespaces"]
        # a restore restarts the host
        await api.running.host.stopped.wait()
        assert api.running.host.restart_requested
    # the next host on the same data folder serves the restored value
    async with open_api(data, "trusted") as api, api.caller(transport) as call:
        got = await call("server.database.get_item", {"namespace": "fluidd",
                                                      "key": "uiSettings"})
        assert got["value"] == {"theme": "dark"}
        assert (await call("server.database.list"))["backups"] == ["before.db"]


async def test_items_persist_across_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with open_api(data, "api_key") as api, api.caller("ws") as call:
        await call("server.database.post_item", {"namespace": "mainsail", "key": "a.b.c",
                                                 "value": [1, 2, {"d": None}]})
    async with open_api(data, "api_key") as api, api.caller("http") as call:
        got = await call("server.database.get_item", {"namespace": "mainsail", "key": "a"})
        assert got["value"] == {"b": {"c": [1, 2, {"d": None}]}}
