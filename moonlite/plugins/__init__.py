"""moonlite's plugin API: OctoPrint's plugin mixins (seed 000) on moonlite's host.

Import what a plugin needs from here: `from moonlite.plugins import StartupPlugin, ...`.
"""

from moonlite.plugins.core import (
    MoonlitePlugin,
    OctoPrintPlugin,
    ReloadNeedingPlugin,
    RestartNeedingPlugin,
    SortablePlugin,
    blocking,
)
from moonlite.plugins.settings import PluginSettings, SettingsPlugin
from moonlite.plugins.slicing import SlicerPlugin, SlicingCancelled, SlicingProfile
from moonlite.plugins.types import (
    EnvironmentDetectionPlugin,
    EventHandlerPlugin,
    ProgressPlugin,
    ShutdownPlugin,
    StartupPlugin,
    TemplatePlugin,
    UiPlugin,
    Webcam,
    WebcamProviderPlugin,
    WizardPlugin,
)
from moonlite.plugins.web import AssetPlugin, BlueprintPlugin, SimpleApiPlugin

#: every mixin type, in the order `server.plugins.list` names them
MIXINS: tuple[type[MoonlitePlugin], ...] = (
    StartupPlugin, ShutdownPlugin, SettingsPlugin, EventHandlerPlugin, ProgressPlugin,
    SimpleApiPlugin, BlueprintPlugin, AssetPlugin, WebcamProviderPlugin,
    EnvironmentDetectionPlugin, SlicerPlugin, WizardPlugin, TemplatePlugin, UiPlugin,
)

__all__ = [
    "MIXINS", "AssetPlugin", "BlueprintPlugin", "EnvironmentDetectionPlugin",
    "EventHandlerPlugin", "MoonlitePlugin", "OctoPrintPlugin", "PluginSettings",
    "ProgressPlugin", "ReloadNeedingPlugin", "RestartNeedingPlugin", "SettingsPlugin",
    "ShutdownPlugin", "SimpleApiPlugin", "SlicerPlugin", "SlicingCancelled", "SlicingProfile",
    "SortablePlugin", "StartupPlugin", "TemplatePlugin", "UiPlugin", "Webcam",
    "WebcamProviderPlugin", "WizardPlugin", "blocking",
]
