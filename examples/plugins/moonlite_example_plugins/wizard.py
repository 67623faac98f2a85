"""WizardPlugin (with SettingsPlugin, TemplatePlugin, UiPlugin): a set-up wizard."""

from __future__ import annotations

from typing import Any

from moonlite.plugins import SettingsPlugin, TemplatePlugin, UiPlugin, WizardPlugin


class WizardDemo(WizardPlugin, SettingsPlugin, TemplatePlugin, UiPlugin):
    """Needs `printer_name` to be set; wizard version 2."""

    def __init__(self) -> None:
        self.finished: list[bool] = []

    def get_settings_defaults(self) -> dict[str, Any]:
        """Nothing configured yet."""
        return {"printer_name": None}

    def is_wizard_required(self) -> bool:
        """Required while the printer has no name."""
        assert self._settings is not None
        return self._settings.get(["printer_name"]) is None

    def get_wizard_version(self) -> int:
        """Raise this to show the wizard again after it was finished."""
        return 2

    def get_wizard_details(self) -> dict[str, Any]:
        """Data for the wizard's page."""
        return {"hint": "Give your printer a name"}

    def on_wizard_finish(self, handled: bool) -> None:
        """The user finished the wizard session."""
        self.finished.append(handled)

    def get_template_configs(self) -> list[dict[str, Any]]:
        """The wizard's page (rendered once moonlite has its own web page)."""
        return [{"type": "wizard", "name": "Printer name", "mandatory": True}]

    def will_handle_ui(self, request: Any) -> bool:
        """This example never replaces the page."""
        return False


__plugin_name__ = "Wizard example"
__plugin_version__ = "1.0.0"
__plugin_implementation__ = WizardDemo()
