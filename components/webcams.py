"""`[webcam <name>]`: webcams from the config plus ones added over the API (server.webcams.*)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field, field_validator

from moonlite.component import Component
from moonlite.config import SectionModel, validate_section
from moonlite.events import Events
from moonlite.rpc import ApiError, InvalidParams, api

NAMESPACE = "webcams"
ROTATIONS = (0, 90, 180, 270)


class WebcamConfig(SectionModel):
    """One `[webcam <name>]` section (Moonraker's options)."""

    location: str = "printer"
    icon: str = "mdiWebcam"
    enabled: bool = True
    service: str = "mjpegstreamer-adaptive"
    target_fps: int = Field(15, ge=1)
    target_fps_idle: int = Field(5, ge=1)
    stream_url: str = ""
    snapshot_url: str = ""
    flip_horizontal: bool = False
    flip_vertical: bool = False
    rotation: int = 0
    aspect_ratio: str = "4:3"

    @field_validator("rotation")
    @classmethod
    def _right_angle(cls, value: int) -> int:
        # an int field (not a Literal) so that the INI text "90" is accepted
        return _check_rotation(value)


def _check_rotation(value: int) -> int:
    if value not in ROTATIONS:
        raise ValueError(f"rotation must be one of {', '.join(map(str, ROTATIONS))}")
    return value


class Webcams(Component):
    """Config-defined webcams (read-only) and database-stored ones (editable)."""

    name = "webcam"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.configured: dict[str, dict[str, Any]] = {}
        for section in self.host.config.of_kind("webcam"):
            if not section.instance:
                continue
            cam = validate_section(WebcamConfig, section).model_dump()
            self.configured[section.instance] = self._entry(section.instance, cam, "config")
        #: webcams contributed by plugins (WebcamProviderPlugin)
        self.providers: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _entry(name: str, cam: dict[str, Any], source: str) -> dict[str, Any]:
        entry = {"name": name, **cam, "extra_data": cam.get("extra_data", {}), "source": source}
        entry.setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"moonlite-webcam/{name}")))
        return entry

    async def _stored(self) -> dict[str, dict[str, Any]]:
        try:
            value: dict[str, dict[str, Any]] = await self.host.database.get_item(NAMESPACE)
        except ApiError:
            return {}
        return value

    async def all(self) -> list[dict[str, Any]]:
        """Every webcam: config first, then database, then plugin-provided."""
        cams = dict(self.configured)
        for name, cam in (await self._stored()).items():
            cams.setdefault(name, cam)
        for name, cam in self.providers.items():
            cams.setdefault(name, cam)
        return list(cams.values())

    async def _find(self, name: str | None, uid: str | None) -> dict[str, Any]:
        for cam in await self.all():
            if (name and cam["name"] == name) or (uid and cam["uid"] == uid):
                return cam
        raise ApiError(f"Webcam not found: {name or uid}", 404)

    def _changed(self, cams: list[dict[str, Any]]) -> None:
        self.host.notify("notify_webcams_changed", {"webcams": cams})
        self.host.events.fire(Events.SETTINGS_UPDATED, {})

    @api("server.webcams.list")
    async def list_webcams(self) -> dict[str, Any]:
        """Every configured webcam."""
        return {"webcams": await self.all()}

    @api("server.webcams.get_item")
    async def get_item(self, name: str | None = None, uid: str | None = None
                       ) -> dict[str, Any]:
        """One webcam by name or uid."""
        return {"webcam": await self._find(name, uid)}

    @api("server.webcams.post_item", "POST")
    async def post_item(self, name: str, location: str = "printer", icon: str = "mdiWebcam",
                        enabled: bool = True, service: str = "mjpegstreamer-adaptive",
                        target_fps: int = 15, target_fps_idle: int = 5, stream_url: str = "",
                        snapshot_url: str = "", flip_horizontal: bool = False,
                        flip_vertical: bool = False, rotation: int = 0,
                        aspect_ratio: str = "4:3", extra_data: dict[str, Any] | None = None,
                        uid: str | None = None) -> dict[str, Any]:
        """Add or update a webcam stored in the database (config webcams are read-only)."""
        if name in self.configured:
            raise ApiError(f"Webcam '{name}' is defined in the config and cannot be changed",
                           400)
        if rotation not in ROTATIONS:
            raise InvalidParams(f"Invalid argument 'rotation': must be one of {ROTATIONS}")
        stored = await self._stored()
        previous = self._updated_name(stored, name, uid)
        if previous is not None:
            uid = stored[previous]["uid"]  # an update keeps the webcam's identity
        cam = self._entry(name, {
            "location": location, "icon": icon, "enabled": enabled, "service": service,
            "target_fps": target_fps, "target_fps_idle": target_fps_idle,
            "stream_url": stream_url, "snapshot_url": snapshot_url,
            "flip_horizontal": flip_horizontal, "flip_vertical": flip_vertical,
            "rotation": rotation, "aspect_ratio": aspect_ratio,
            "extra_data": extra_data or {}, **({"uid": uid} if uid else {})}, "database")
        await self.host.database.post_item(NAMESPACE, [name], cam)
        if previous is not None and previous != name:
            await self.host.database.delete_item(NAMESPACE, [previous])
        self._changed(await self.all())
        return {"webcam": cam}

    def _updated_name(self, stored: dict[str, dict[str, Any]], name: str, uid: str | None
                      ) -> str | None:
        """The stored name of the webcam a post updates (by `uid`, else by `name`), or None."""
        if uid:
            if any(cam["uid"] == uid for cam in self.configured.values()):
                raise ApiError(f"Webcam '{uid}' is defined in the config and cannot be changed",
                               400)
            previous = next((key for key, cam in stored.items() if cam.get("uid") == uid),
                            None)
            if previous is not None and name != previous and name in stored:
                raise ApiError(f"Webcam '{name}' already exists", 400)
            return previous
        return name if name in stored else None

    @api("server.webcams.delete_item", "DELETE")
    async def delete_item(self, name: str | None = None, uid: str | None = None
                          ) -> dict[str, Any]:
        """Remove a database webcam."""
        cam = await self._find(name, uid)
        if cam["source"] != "database":
            raise ApiError(f"Webcam '{cam['name']}' is not stored in the database", 400)
        await self.host.database.delete_item(NAMESPACE, [cam["name"]])
        self._changed(await self.all())
        return {"webcam": cam}


COMPONENT = Webcams
