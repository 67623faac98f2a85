"""Manager services per mixin: settings storage and API, wizards, webcams, environment."""

from __future__ import annotations

import copy
import importlib.metadata
import os
import platform
import sys
import uuid
from typing import TYPE_CHECKING, Any

import psutil

from moonlite.events import Events
from moonlite.plugins.settings import PluginSettings, SettingsPlugin, leaf_paths
from moonlite.plugins.types import (
    EnvironmentDetectionPlugin,
    Webcam,
    WebcamProviderPlugin,
    WizardPlugin,
)
from moonlite.rpc import ApiError

if TYPE_CHECKING:
    from moonlite.plugins.manager import PluginManager

#: database namespaces the plugin system owns (read-only over the database API)
SETTINGS_NAMESPACE = "plugin_settings"
WIZARD_NAMESPACE = "plugin_wizards"


# -- settings ----------------------------------------------------------------------------

def make_settings(manager: PluginManager, plugin: SettingsPlugin) -> PluginSettings:
    """The PluginSettings of `plugin` with its defaults (stored values come at start-up)."""
    defaults = manager.call_sync(plugin, "get_settings_defaults", default={}) or {}
    processors = manager.call_sync(plugin, "get_settings_preprocessors", default=({}, {}))
    getters, setters = processors if isinstance(processors, tuple) and len(processors) == 2 \
        else ({}, {})
    restricted = manager.call_sync(plugin, "get_settings_restricted_paths", default={}) or {}
    database = manager.host.database
    identifier = plugin._identifier

    async def store(data: dict[str, Any]) -> None:
        await database.post_item(SETTINGS_NAMESPACE, [identifier], data)

    return PluginSettings(identifier, defaults, getters=getters, setters=setters,
                          restricted=restricted, store=store)


async def init_all_settings(manager: PluginManager) -> None:
    """Load every SettingsPlugin's stored values from the database."""
    database = manager.host.database
    database.register_namespace(SETTINGS_NAMESPACE)
    database.register_namespace(WIZARD_NAMESPACE)
    try:
        stored: dict[str, Any] = await database.get_item(SETTINGS_NAMESPACE)
    except ApiError:
        stored = {}
    for plugin in manager.implementations(SettingsPlugin):
        if plugin._settings is not None and isinstance(stored.get(plugin._identifier), dict):
            plugin._settings.data = copy.deepcopy(stored[plugin._identifier])


async def finish_settings(manager: PluginManager) -> None:
    """Migrate (when the stored version is older), clean up, then on_settings_initialized."""
    for plugin in manager.implementations(SettingsPlugin):
        settings = plugin._settings
        if settings is None:
            continue
        target = manager.call_sync(plugin, "get_settings_version")
        current = settings.data.get(settings.config_version_key)
        if isinstance(target, int) and (not isinstance(current, int) or current < target):
            await manager.call(plugin, "on_settings_migrate", target,
                               current if isinstance(current, int) else None,
                               timeout=manager.hook_timeout)
            settings.data[settings.config_version_key] = target
        await manager.call(plugin, "on_settings_cleanup", timeout=manager.hook_timeout)
        try:
            await settings.save()
        except Exception as exc:
            manager._record(plugin, "settings.save", exc)
        await manager.call(plugin, "on_settings_initialized", timeout=manager.hook_timeout)


def settings_plugin(manager: PluginManager, identifier: str) -> SettingsPlugin:
    """The running SettingsPlugin `identifier` (404 otherwise)."""
    plugin = manager.get_plugin(identifier)
    if not isinstance(plugin, SettingsPlugin) or plugin._settings is None:
        raise ApiError(f"No plugin with settings: {identifier}", 404)
    return plugin


async def settings_view(manager: PluginManager, plugin: SettingsPlugin,
                        role: int) -> dict[str, Any]:
    """The plugin's settings as `role` may see them."""
    assert plugin._settings is not None
    data = await manager.call(plugin, "on_settings_load", default=None)
    if not isinstance(data, dict):
        raise ApiError(f"Plugin {plugin._identifier} failed to load its settings", 500)
    data.pop(plugin._settings.config_version_key, None)
    return plugin._settings.restricted_view(data, role)


async def save_settings(manager: PluginManager, plugin: SettingsPlugin,
                        data: dict[str, Any], role: int) -> dict[str, Any]:
    """Apply settings from the API, commit them, fire SettingsUpdated; the new view."""
    settings = plugin._settings
    assert settings is not None
    for parts, _ in leaf_paths(data):
        if parts and parts[0] == settings.config_version_key:
            raise ApiError(f"Setting '{parts[0]}' cannot be changed", 400)
        if not settings.may_write(parts, role):
            raise ApiError(f"Not allowed to change setting '{'.'.join(parts)}'", 403)
    try:
        await manager.call(plugin, "on_settings_save", data, raise_errors=True)
    except Exception as exc:
        raise ApiError(f"Plugin {plugin._identifier} failed to save its settings: {exc}",
                       500) from None
    await settings.save()
    manager.host.events.fire(Events.SETTINGS_UPDATED, {"plugin": plugin._identifier})
    return await settings_view(manager, plugin, role)


# -- wizards -----------------------------------------------------------------------------

async def seen_wizards(manager: PluginManager) -> dict[str, int | None]:
    """Wizard versions the user has finished, by plugin identifier."""
    try:
        seen: dict[str, int | None] = await manager.host.database.get_item(
            WIZARD_NAMESPACE, "seen")
    except ApiError:
        return {}
    return seen


async def wizard_state(manager: PluginManager) -> dict[str, Any]:
    """Every wizard: required, ignored, version, details, and whether it is to be shown."""
    seen = await seen_wizards(manager)
    out: dict[str, Any] = {}
    for plugin in manager.implementations(WizardPlugin):
        required = bool(manager.call_sync(plugin, "is_wizard_required", default=False))
        ignored = bool(WizardPlugin.is_wizard_ignored(seen, plugin))
        details = manager.call_sync(plugin, "get_wizard_details")
        out[plugin._identifier] = {
            "required": required, "ignored": ignored,
            "version": manager.call_sync(plugin, "get_wizard_version"),
            "details": details if isinstance(details, dict) else {},
            "show": required and not ignored,
        }
    return out


async def wizard_finish(manager: PluginManager, handled: list[str]) -> dict[str, bool]:
    """Finish the wizard session: remember shown versions and call on_wizard_finish."""
    state = await wizard_state(manager)
    seen = await seen_wizards(manager)
    result: dict[str, bool] = {}
    for plugin in manager.implementations(WizardPlugin):
        entry = state[plugin._identifier]
        was_handled = plugin._identifier in handled and entry["show"]
        if was_handled:
            seen[plugin._identifier] = entry["version"]
        result[plugin._identifier] = was_handled
    await manager.host.database.post_item(WIZARD_NAMESPACE, "seen", seen)
    for plugin in manager.implementations(WizardPlugin):
        await manager.call(plugin, "on_wizard_finish", result[plugin._identifier])
    return result


# -- webcams -----------------------------------------------------------------------------

def webcam_entry(identifier: str, cam: Webcam | dict[str, Any]) -> dict[str, Any]:
    """A provider's webcam as a Moonraker webcam entry (source "plugin")."""
    if isinstance(cam, dict):
        entry = {"location": "printer", "icon": "mdiWebcam", "enabled": True,
                 "service": "mjpegstreamer-adaptive", "target_fps": 15, "target_fps_idle": 5,
                 "stream_url": "", "snapshot_url": "", "flip_horizontal": False,
                 "flip_vertical": False, "rotation": 0, "aspect_ratio": "4:3",
                 "extra_data": {}, **cam}
        name = str(entry["name"])
    else:
        name = cam.name
        snapshot = cam.snapshot_url or (
            f"/plugin/{identifier}/webcam/{name}/snapshot" if cam.can_snapshot else "")
        entry = {"location": "printer", "icon": "mdiWebcam", "enabled": True,
                 "service": cam.service, "target_fps": cam.target_fps, "target_fps_idle": 5,
                 "stream_url": cam.stream_url, "snapshot_url": snapshot,
                 "flip_horizontal": cam.flip_h, "flip_vertical": cam.flip_v,
                 "rotation": 90 if cam.rotate_90 else 0, "aspect_ratio": cam.aspect_ratio,
                 "extra_data": {"display_name": cam.display_name or name, **cam.extras}}
    entry["name"] = name
    entry["source"] = "plugin"
    entry["extra_data"] = {**entry.get("extra_data", {}), "plugin": identifier}
    entry.setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"moonlite-webcam/{name}")))
    return entry


def register_webcams(manager: PluginManager) -> None:
    """Put every provider's webcams into the webcam component's `providers`."""
    component = manager.host.get_component("webcam")
    providers = getattr(component, "providers", None)
    if not isinstance(providers, dict):
        return
    for plugin in manager.implementations(WebcamProviderPlugin):
        cams = manager.call_sync(plugin, "get_webcam_configurations", default=[]) or []
        for cam in cams:
            try:
                entry = webcam_entry(plugin._identifier, cam)
            except Exception as exc:
                manager._record(plugin, "get_webcam_configurations", exc)
                continue
            if entry["name"] in providers:
                plugin._logger.warning("webcam %s is already provided", entry["name"])
                continue
            providers[entry["name"]] = entry


def unregister_webcams(manager: PluginManager) -> None:
    """Remove the plugins' webcams from the webcam component."""
    providers = getattr(manager.host.get_component("webcam"), "providers", None)
    if isinstance(providers, dict):
        for name in [n for n, cam in providers.items() if cam.get("source") == "plugin"]:
            del providers[name]


# -- environment -------------------------------------------------------------------------

def environment_plugins(manager: PluginManager) -> list[EnvironmentDetectionPlugin]:
    """The EnvironmentDetectionPlugins."""
    return manager.implementations(EnvironmentDetectionPlugin)


def detect_environment(manager: PluginManager) -> dict[str, Any]:
    """OS, Python, hardware and plugin-provided environment information (quick to gather)."""
    try:
        pip_version: str | None = importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        pip_version = None
    try:
        freq = psutil.cpu_freq()
    except Exception:  # not available on every platform / container
        freq = None
    plugins: dict[str, Any] = {}
    for plugin in environment_plugins(manager):
        extra = manager.call_sync(plugin, "get_additional_environment")
        if isinstance(extra, dict):
            plugins[plugin._identifier] = extra
    return {
        "os": {"id": platform.system().lower(), "platform": sys.platform,
               "bits": 64 if sys.maxsize > 2**32 else 32},
        "python": {"version": platform.python_version(), "pip": pip_version,
                   "virtualenv": sys.prefix != sys.base_prefix},
        "hardware": {"cores": os.cpu_count(), "freq": freq.max if freq else None,
                     "ram": psutil.virtual_memory().total},
        "plugins": plugins,
    }
