"""A data-folder plugin for the catalogue test: the example slicer (Slicing* events) under its
own type, with settings (SettingsUpdated). Copied into `<data>/plugins/`; models are text files."""

from __future__ import annotations

from typing import Any

from moonlite_example_plugins.slicer import ExampleSlicer

from moonlite.plugins import SettingsPlugin


class CatalogueSlicer(ExampleSlicer, SettingsPlugin):
    """A model saying "fail" fails; one saying "slow" waits until it is cancelled."""

    def get_settings_defaults(self) -> dict[str, Any]:
        """One setting to change over the API."""
        return {"greeting": "hello"}

    def get_slicer_properties(self) -> dict[str, Any]:
        """The slicer's type is what the API calls it by."""
        return {**super().get_slicer_properties(), "type": "catalogue",
                "name": "Catalogue slicer", "progress_report": False}


__plugin_name__ = "Catalogue slicer"
__plugin_version__ = "1.0.0"
__plugin_implementation__ = CatalogueSlicer()
