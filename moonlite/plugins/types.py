"""The plugin mixins of seed 000 (lifecycle, events, progress, webcams, wizards, UI).

Every hook may be a plain method or a coroutine (`async def`). Plain hooks run on the event
loop and must return quickly; mark slow plain hooks with `@blocking` to run them in a thread.
The web-facing mixins live in `moonlite.plugins.web`, settings in `moonlite.plugins.settings`
and slicing in `moonlite.plugins.slicing`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from moonlite.plugins.core import (
    MoonlitePlugin,
    ReloadNeedingPlugin,
    RestartNeedingPlugin,
    SortablePlugin,
)


class StartupPlugin(SortablePlugin):
    """Hooks into start-up. Sorting contexts: "StartupPlugin.on_startup" and
    "StartupPlugin.on_after_startup"."""

    def on_startup(self, host: str, port: int) -> Any:
        """Called before the server listens; `host`/`port` are the configured address."""

    def on_after_startup(self) -> Any:
        """Called once the server is listening (the plugin's routes are reachable)."""


class ShutdownPlugin(SortablePlugin):
    """Hooks into shutdown. Sorting context: "ShutdownPlugin.on_shutdown"."""

    def on_shutdown(self) -> Any:
        """Called when the server is about to stop (components still running)."""


class EventHandlerPlugin(MoonlitePlugin):
    """Receives every event of the bus. A slow handler only delays its own events."""

    def on_event(self, event: str, payload: dict[str, Any]) -> Any:
        """Called for each event fired on the bus, in the order they were fired."""


class ProgressPlugin(MoonlitePlugin):
    """Print and slicing progress, reported when the whole percentage changes."""

    def on_print_progress(self, storage: str, path: str, progress: int) -> Any:
        """Print progress (0..100) of `path` on `storage` ("local" or "sdcard")."""

    def on_slicing_progress(self, slicer: str, source_location: str, source_path: str,
                            destination_location: str, destination_path: str,
                            progress: int) -> Any:
        """Slicing progress (0..100) of a slicing job."""


class EnvironmentDetectionPlugin(RestartNeedingPlugin):
    """Learns about the environment moonlite runs in (OS, Python, hardware, plugins)."""

    def get_additional_environment(self) -> dict[str, Any] | None:
        """Extra environment information, shown under `plugins.<identifier>`."""
        return None

    def on_environment_detected(self, environment: dict[str, Any]) -> Any:
        """Called with the environment once it is known."""


@dataclass
class Webcam:
    """A webcam a `WebcamProviderPlugin` offers (OctoPrint's fields, Moonraker's view)."""

    name: str
    display_name: str = ""
    stream_url: str = ""
    snapshot_url: str = ""
    can_snapshot: bool = False
    flip_h: bool = False
    flip_v: bool = False
    rotate_90: bool = False
    target_fps: int = 15
    service: str = "mjpegstreamer-adaptive"
    aspect_ratio: str = "16:9"
    extras: dict[str, Any] = field(default_factory=dict)


SnapshotBytes = bytes | Iterable[bytes] | AsyncIterable[bytes]


class WebcamProviderPlugin(MoonlitePlugin):
    """Provides webcams: they appear in `server.webcams.list`; snapshots are served at
    `/plugin/<identifier>/webcam/<name>/snapshot`."""

    def get_webcam_configurations(self) -> Sequence[Webcam | dict[str, Any]]:
        """The plugin's webcams (`Webcam` objects or Moonraker webcam dicts)."""
        return []

    def take_webcam_snapshot(self, webcam: str) -> SnapshotBytes:
        """A JPEG snapshot of `webcam`: bytes or an (async) iterator of bytes."""
        raise NotImplementedError("this webcam provider takes no snapshots")


class WizardPlugin(ReloadNeedingPlugin):
    """A set-up wizard shown once per wizard version while `is_wizard_required()`."""

    def is_wizard_required(self) -> bool:
        """Whether the wizard should be shown."""
        return False

    def get_wizard_version(self) -> int | None:
        """The wizard's version; raise it to show the wizard again."""
        return None

    def get_wizard_details(self) -> dict[str, Any] | None:
        """Extra data for the wizard's front end."""
        return None

    def on_wizard_finish(self, handled: bool) -> Any:
        """The user finished the wizard session; `handled`: this wizard was part of it."""

    @classmethod
    def is_wizard_ignored(cls, seen_wizards: dict[str, int | None],
                          implementation: object) -> bool:
        """Whether `implementation`'s wizard is ignored given the versions already seen.

        Ignored when it was seen before and either its current version is None, or it was
        seen at a version that is not None and not lower than the current one.
        """
        if not isinstance(implementation, WizardPlugin):
            return False
        identifier = implementation._identifier
        if identifier not in seen_wizards:
            return False
        seen = seen_wizards[identifier]
        current = implementation.get_wizard_version()
        if current is None:
            return True
        if seen is None:
            return False
        return current <= seen


class TemplatePlugin(ReloadNeedingPlugin):
    """Templates for the built-in web page (interface only until the page exists)."""

    def get_template_configs(self) -> list[dict[str, Any]]:
        """Template configurations (type, name, template, suffix, div, replaces, ...)."""
        return []

    def get_template_vars(self) -> dict[str, Any]:
        """Extra template variables (prefixed with `plugin_<identifier>_`)."""
        return {}

    def get_template_folder(self) -> str:
        """Where the plugin's Jinja2 templates live (default: `<basefolder>/templates`)."""
        return f"{self._basefolder}/templates"

    def get_template_types(self, template_sorting: dict[str, Any],
                           template_rules: dict[str, Any]) -> list[Any]:
        """Additional template types the plugin defines."""
        return []


class UiPlugin(SortablePlugin):
    """Replaces the built-in web page for some requests (interface only until it exists).
    Sorting context: "UiPlugin.will_handle_ui"."""

    def will_handle_ui(self, request: Any) -> bool:
        """Whether this plugin renders the page for `request`."""
        return False

    def on_ui_render(self, now: Any, request: Any, render_kwargs: dict[str, Any]) -> Any:
        """The response for `request` when `will_handle_ui` said yes."""
        return None

    def get_ui_permissions(self) -> list[str]:
        """Permissions the caller needs to see the page."""
        return []

    def get_ui_preemptive_caching_enabled(self) -> bool:
        """Whether the page may be cached ahead of requests."""
        return True

    def get_ui_additional_key_data_for_cache(self) -> list[str] | None:
        """Extra data for the cache key."""
        return None

    def get_ui_additional_tracked_files(self) -> list[str] | None:
        """Extra files whose changes invalidate the cache."""
        return None

    def get_ui_custom_etag(self) -> str | None:
        """A custom ETag."""
        return None

    def get_ui_custom_lastmodified(self) -> int | None:
        """A custom Last-Modified time."""
        return None
