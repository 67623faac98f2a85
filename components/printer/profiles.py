"""Printer profiles (OctoPrint's structure): a default, list/add/update/remove, kept in the DB."""

from __future__ import annotations

import copy
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from moonlite.rpc import ApiError, api

#: database namespace (read-only over server.database.*; written through this module)
NAMESPACE = "printer_profiles"
DEFAULT_ID = "_default"
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class CustomBox(BaseModel):
    """A bounding box overriding the one given by the volume."""

    model_config = ConfigDict(extra="forbid")
    x_min: float
    y_min: float
    z_min: float
    x_max: float
    y_max: float
    z_max: float


class Volume(BaseModel):
    """The print volume."""

    model_config = ConfigDict(extra="forbid")
    width: float = Field(default=200.0, gt=0)
    depth: float = Field(default=200.0, gt=0)
    height: float = Field(default=200.0, gt=0)
    formFactor: Literal["rectangular", "circular"] = "rectangular"
    origin: Literal["lowerleft", "center"] = "lowerleft"
    custom_box: CustomBox | Literal[False] = False


class Extruder(BaseModel):
    """The extruders."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(default=1, ge=1, le=16)
    offsets: list[tuple[float, float]] = Field(default_factory=lambda: [(0.0, 0.0)])
    nozzleDiameter: float = Field(default=0.4, gt=0)
    sharedNozzle: bool = False
    defaultExtrusionLength: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _offsets_per_extruder(self) -> Extruder:
        # one (x, y) per extruder, the first always (0, 0)
        offsets = list(self.offsets[: self.count])
        offsets += [(0.0, 0.0)] * (self.count - len(offsets))
        offsets[0] = (0.0, 0.0)
        self.offsets = offsets
        return self


class Axis(BaseModel):
    """One axis: speed (used as the F of jog/home moves, so mm/min as in OctoPrint)."""

    model_config = ConfigDict(extra="forbid")
    speed: float = Field(gt=0)
    inverted: bool = False


class Axes(BaseModel):
    """The four axes."""

    model_config = ConfigDict(extra="forbid")
    x: Axis = Axis(speed=6000)
    y: Axis = Axis(speed=6000)
    z: Axis = Axis(speed=200)
    e: Axis = Axis(speed=300)


class PrinterProfile(BaseModel):
    """A printer profile with the fields of OctoPrint's profile dict."""

    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    model: str = "Generic RepRap Printer"
    color: str = "default"
    volume: Volume = Volume()
    heatedBed: bool = True
    heatedChamber: bool = False
    extruder: Extruder = Extruder()
    axes: Axes = Axes()


def default_profile() -> dict[str, Any]:
    """The built-in default profile (id `_default`)."""
    return PrinterProfile(id=DEFAULT_ID, name="Default").model_dump(mode="json")


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validate_profile(data: dict[str, Any]) -> dict[str, Any]:
    """Check a whole profile; `ApiError(400)` naming the bad field."""
    try:
        return PrinterProfile.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(f"Invalid printer profile: {where}: {first['msg']}", 400) from None


class PrinterProfiles:
    """The profiles: `_default` always exists; one profile is the default, one the current."""

    def __init__(self, database: Any) -> None:
        self.database = database
        self.profiles: dict[str, dict[str, Any]] = {DEFAULT_ID: default_profile()}
        self.default_id = DEFAULT_ID
        self.current_id = DEFAULT_ID

    async def load(self) -> None:
        """Read the stored profiles (the default profile is created on first use)."""
        self.database.register_namespace(NAMESPACE, protected=True)
        try:
            stored = await self.database.get_item(NAMESPACE, "profiles")
        except ApiError:
            stored = {}
        for pid, data in (stored or {}).items():
            try:
                self.profiles[pid] = validate_profile(_merge(default_profile(), data))
            except ApiError:
                continue
        try:
            default_id = await self.database.get_item(NAMESPACE, "default")
        except ApiError:
            default_id = DEFAULT_ID
        self.default_id = default_id if default_id in self.profiles else DEFAULT_ID
        self.current_id = self.default_id

    @property
    def current(self) -> dict[str, Any]:
        """The profile in use for the connection."""
        return self.profiles.get(self.current_id) or self.profiles[DEFAULT_ID]

    def get(self, profile_id: str) -> dict[str, Any]:
        """One profile; 404 when unknown."""
        profile = self.profiles.get(profile_id)
        if profile is None:
            raise ApiError(f"Printer profile '{profile_id}' not found", 404)
        return copy.deepcopy(profile)

    def listing(self) -> dict[str, dict[str, Any]]:
        """Every profile with `default` and `current` flags (OctoPrint's list format)."""
        return {pid: {**copy.deepcopy(p), "default": pid == self.default_id,
                      "current": pid == self.current_id}
                for pid, p in self.profiles.items()}

    async def _save(self) -> None:
        await self.database.post_item(NAMESPACE, "profiles", self.profiles)
        await self.database.post_item(NAMESPACE, "default", self.default_id)

    async def add(self, profile: dict[str, Any], overwrite: bool = False,
                  based_on: str | None = None) -> dict[str, Any]:
        """Add a profile (filled in from `based_on` or the default); 409 if the id exists."""
        pid = str(profile.get("id") or "")
        if not _ID.match(pid):
            raise ApiError("A profile needs an id of letters, digits, '_', '.' or '-'", 400)
        if pid in self.profiles and not overwrite:
            raise ApiError(f"Printer profile '{pid}' already exists", 409)
        base = self.get(based_on) if based_on else default_profile()
        data = validate_profile(_merge(base, {"name": pid, **profile}))
        self.profiles[pid] = data
        await self._save()
        return copy.deepcopy(data)

    async def update(self, profile_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge `changes` into a profile (its id cannot change); 404 when unknown."""
        current = self.get(profile_id)
        changes = {k: v for k, v in changes.items() if k not in ("id", "default", "current")}
        data = validate_profile(_merge(current, changes))
        self.profiles[profile_id] = data
        await self._save()
        return copy.deepcopy(data)

    async def remove(self, profile_id: str) -> dict[str, Any]:
        """Remove a profile; the built-in default, the default and the current one stay (409)."""
        profile = self.get(profile_id)
        if profile_id in (DEFAULT_ID, self.default_id, self.current_id):
            raise ApiError(f"Printer profile '{profile_id}' is the default or in use", 409)
        del self.profiles[profile_id]
        await self._save()
        return profile

    async def set_default(self, profile_id: str) -> None:
        """Make `profile_id` the default (used for the next connection)."""
        self.get(profile_id)
        self.default_id = profile_id
        await self._save()

    def select(self, profile_id: str | None) -> dict[str, Any]:
        """Use `profile_id` (None: the default) for the current connection."""
        pid = profile_id or self.default_id
        self.get(pid)
        self.current_id = pid
        return self.current


class ProfilesApi:
    """`printer.profiles.*` (a mixin of the printer component)."""

    profiles: PrinterProfiles

    @api("printer.profiles.list")
    async def profiles_list(self) -> dict[str, Any]:
        """Every printer profile by id, each with `default` and `current` flags."""
        return {"profiles": self.profiles.listing()}

    @api("printer.profiles.get_profile")
    async def profiles_get(self, id: str) -> dict[str, Any]:
        """One printer profile."""
        return self.profiles.get(id)

    @api("printer.profiles.post_profile", verb="POST")
    async def profiles_post(self, profile: dict[str, Any], id: str | None = None,
                            based_on: str | None = None, default: bool = False
                            ) -> dict[str, Any]:
        """Add a profile (no `id` argument; id inside `profile`) or update profile `id`."""
        if id is not None:
            if id not in self.profiles.profiles:
                raise ApiError(f"Printer profile '{id}' not found", 404)
            result = await self.profiles.update(id, profile)
        else:
            result = await self.profiles.add(profile, based_on=based_on)
        if default:
            await self.profiles.set_default(result["id"])
        return {"profile": result}

    @api("printer.profiles.delete_profile", verb="DELETE")
    async def profiles_delete(self, id: str) -> dict[str, Any]:
        """Remove a profile (not the built-in default, the default or the current one)."""
        return {"profile": await self.profiles.remove(id)}
