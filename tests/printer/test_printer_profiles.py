"""Printer profiles over the API: the default, add/update/remove, validation, persistence;
G-code scripts: overrides from the config folder and the sandbox."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from job_host import printer_host
from moonlite.components.printer.scripts import GcodeScripts, UnknownScript

from moonlite.testing import RpcCallError, RpcClient


async def test_profiles_crud_over_the_api_and_persisted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with printer_host(data) as (running, printer, _log), \
            RpcClient.connect(running.ws_url) as rpc:
        listing = await rpc.call("printer.profiles.list")
        default = listing["profiles"]["_default"]
        assert default["default"] and default["current"]
        assert default["volume"] == {"width": 200.0, "depth": 200.0, "height": 200.0,
                                     "formFactor": "rectangular", "origin": "lowerleft",
                                     "custom_box": False}
        assert default["extruder"]["count"] == 1 and default["axes"]["z"]["speed"] == 200

        added = await rpc.call("printer.profiles.post_profile", {"profile": {
            "id": "dual", "name": "Dual", "extruder": {"count": 2},
            "volume": {"width": 300, "formFactor": "circular", "origin": "center"}}})
        profile = added["profile"]
        assert profile["extruder"]["offsets"] == [[0.0, 0.0], [0.0, 0.0]]
        assert profile["volume"]["depth"] == 200.0 and profile["volume"]["width"] == 300.0

        with pytest.raises(RpcCallError) as duplicate:
            await rpc.call("printer.profiles.post_profile", {"profile": {"id": "dual"}})
        assert duplicate.value.code == 409
        with pytest.raises(RpcCallError) as invalid:
            await rpc.call("printer.profiles.post_profile", {"profile": {
                "id": "bad", "volume": {"formFactor": "hexagonal"}}})
        assert invalid.value.code == 400 and "formFactor" in invalid.value.message

        updated = await rpc.call("printer.profiles.post_profile", {
            "id": "dual", "profile": {"name": "Dual extruder", "heatedChamber": True},
            "default": True})
        assert updated["profile"]["name"] == "Dual extruder"
        assert updated["profile"]["extruder"]["count"] == 2

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{running.url}/printer/profiles/profile",
                                params={"id": "dual"}) as resp:
                assert resp.status == 200
                assert (await resp.json())["result"]["heatedChamber"] is True
            async with http.get(f"{running.url}/printer/profiles/profile",
                                params={"id": "nope"}) as resp:
                assert resp.status == 404

        with pytest.raises(RpcCallError) as builtin:
            await rpc.call("printer.profiles.delete_profile", {"id": "_default"})
        assert builtin.value.code == 409
        await rpc.call("printer.profiles.post_profile", {"profile": {"id": "spare"}})
        removed = await rpc.call("printer.profiles.delete_profile", {"id": "spare"})
        assert removed["profile"]["id"] == "spare"

    # a restart keeps the profiles and the default choice
    async with printer_host(data) as (_running, printer, _log):
        listing = printer.profiles.listing()
        assert set(listing) == {"_default", "dual"}
        assert listing["dual"]["default"] and listing["dual"]["current"]
        assert listing["dual"]["name"] == "Dual extruder"
        # the profile in use drives the interface rules: tool1 exists now
        await printer.set_temperature("tool1", 0)
        assert printer.scripts.render("afterPrintCancelled", printer.script_context()) == [
            "M84", "M104 T0 S0", "M104 T1 S0", "M140 S0", "M141 S0", "M106 S0"]


def test_scripts_overrides_and_sandbox(tmp_path: Path) -> None:
    scripts = GcodeScripts(tmp_path)
    assert scripts.render("afterPrintPaused") == []
    folder = tmp_path / "scripts" / "gcode"
    folder.mkdir(parents=True)
    (folder / "afterPrintPaused").write_text(
        "; park\nG1 Z{{ (pause_position.z or 0) + 10 }}\n\n{% if last_fanspeed %}M107{% endif %}\n")
    (folder / "myScript").write_text("M117 {{ script.name }}\n")
    (folder / "evil").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}\nM117 x\n")
    assert scripts.render("afterPrintPaused", {"pause_position": {"z": 1.5},
                                               "last_fanspeed": 255}) == ["G1 Z11.5", "M107"]
    assert scripts.render("myScript") == ["M117 myScript"]
    assert "myScript" in scripts.names() and "afterPrintDone" in scripts.names()
    # the sandbox refuses the attribute walk: the script renders to nothing
    assert scripts.render("evil") == []
    for name in ("../moonlite.conf", "nope", ".hidden"):
        with pytest.raises(UnknownScript):
            scripts.render(name)
