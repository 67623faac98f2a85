"""WizardPlugin: the seen/current version table of seed 000, details and finish over the API."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from moonlite.plugins import EventHandlerPlugin, WizardPlugin
from tests.plugins.conftest import api_key_headers, get_plugin, plugin_host


class VersionedWizard(WizardPlugin):
    """A wizard whose version the test chooses."""

    def __init__(self, version: int | None) -> None:
        self.version = version
        self._identifier = "wiz"

    def get_wizard_version(self) -> int | None:
        """The chosen version."""
        return self.version


# seed 000's table: rows are the seen version, columns the current one; X = shown
TABLE = {
    (None, None): False, (None, 1): True, (None, 2): True,
    (1, None): False, (1, 1): False, (1, 2): True,
    (2, None): False, (2, 1): False, (2, 2): False,
}


@pytest.mark.parametrize(("seen", "current"), sorted(TABLE, key=str))
def test_wizard_ignored_follows_the_seed_table(seen: int | None, current: int | None) -> None:
    shown = TABLE[(seen, current)]
    assert WizardPlugin.is_wizard_ignored({"wiz": seen}, VersionedWizard(current)) is not shown


def test_wizard_never_seen_or_not_a_wizard_is_not_ignored() -> None:
    for current in (None, 1, 2):
        assert WizardPlugin.is_wizard_ignored({}, VersionedWizard(current)) is False
        assert WizardPlugin.is_wizard_ignored({"other": 5}, VersionedWizard(current)) is False
    assert WizardPlugin.is_wizard_ignored({"wiz": 1}, EventHandlerPlugin()) is False


async def test_wizard_details_and_finish_over_the_api(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with plugin_host(data) as running, \
            aiohttp.ClientSession(headers=api_key_headers(running)) as session:
        async with session.get(running.url + "/server/plugins/wizards") as resp:
            wizards = (await resp.json())["result"]["wizards"]
        assert wizards["example_wizard"] == {
            "required": True, "ignored": False, "version": 2,
            "details": {"hint": "Give your printer a name"}, "show": True}
        async with session.post(running.url + "/server/plugins/wizards/finish",
                                json={"handled": ["example_wizard"]}) as resp:
            assert resp.status == 200
            assert (await resp.json())["result"]["handled"] == {"example_wizard": True}
        assert get_plugin(running, "example_wizard").finished == [True]
        async with session.get(running.url + "/server/plugins/wizards") as resp:
            state = (await resp.json())["result"]["wizards"]["example_wizard"]
        assert state["required"] is True and state["ignored"] is True
        assert state["show"] is False
    async with plugin_host(data) as running, \
            aiohttp.ClientSession(headers=api_key_headers(running)) as session:
        async with session.get(running.url + "/server/plugins/wizards") as resp:
            state = (await resp.json())["result"]["wizards"]["example_wizard"]
        assert state["ignored"] is True  # remembered across restarts
        async with session.post(running.url + "/server/plugins/wizards/finish",
                                json={"handled": ["example_wizard"]}) as resp:
            # already seen in this version: not part of the session any more
            assert (await resp.json())["result"]["handled"] == {"example_wizard": False}
        assert get_plugin(running, "example_wizard").finished == [False]
        async with session.post(running.url + "/server/plugins/wizards/finish",
                                json={}) as resp:
            assert resp.status == 400
            assert "handled" in (await resp.json())["error"]["message"]
