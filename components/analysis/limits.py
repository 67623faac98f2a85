"""Printer limits for the estimator: the JSON config model, slicer-recorded limits, defaults."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

JunctionModel = Literal["square_corner", "junction_deviation", "classic_jerk"]

# Marlin's Configuration.h defaults, used when neither a config nor the file says otherwise.
MARLIN_MAX_FEEDRATE = (300.0, 300.0, 5.0, 25.0)
MARLIN_MAX_ACCEL = (3000.0, 3000.0, 100.0, 10000.0)
MARLIN_JERK = (10.0, 10.0, 0.3, 5.0)
MARLIN_ACCEL = 3000.0
MARLIN_JUNCTION_DEVIATION = 0.013
# Klipper's "instant" acceleration for extrude-only moves.
INSTANT_ACCEL = 99999999.9


class ConfigError(ValueError):
    """A malformed estimator config: the message names the field and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AxisLimiter(_Strict):
    """Limits the speed and acceleration along one direction (Klipper's Z limit)."""

    axis: tuple[float, float, float]
    max_velocity: float = Field(gt=0)
    max_accel: float = Field(gt=0)


class ExtruderLimiter(_Strict):
    """Limits extrude-only moves (Klipper's max_extrude_only_velocity/accel)."""

    max_velocity: float = Field(gt=0)
    max_accel: float = Field(gt=0)


class MoveChecker(_Strict):
    """One entry of `move_checkers`: exactly one of the two limiters."""

    axis_limiter: AxisLimiter | None = None
    extruder_limiter: ExtruderLimiter | None = None

    @model_validator(mode="after")
    def _one_limiter(self) -> MoveChecker:
        if (self.axis_limiter is None) == (self.extruder_limiter is None):
            raise ValueError("needs exactly one of axis_limiter, extruder_limiter")
        return self


class FirmwareRetraction(_Strict):
    """G10/G11 firmware retraction settings (Marlin FWRETRACT defaults)."""

    retract_length: float = Field(default=3.0, ge=0)
    unretract_extra_length: float = Field(default=0.0, ge=0)
    retract_speed: float = Field(default=45.0, gt=0)
    unretract_speed: float = Field(default=8.0, gt=0)
    lift_z: float = Field(default=0.0, ge=0)


class AxisValues(_Strict):
    """Per-axis values (mm/s, mm/s² or mm/s of jerk); unset axes keep their default."""

    x: float | None = Field(default=None, gt=0)
    y: float | None = Field(default=None, gt=0)
    z: float | None = Field(default=None, gt=0)
    e: float | None = Field(default=None, gt=0)

    def merged(self, base: tuple[float, ...]) -> tuple[float, float, float, float]:
        """These values over `base` (x, y, z, e)."""
        vals = (self.x, self.y, self.z, self.e)
        b0, b1, b2, b3 = base
        return (
            b0 if vals[0] is None else vals[0],
            b1 if vals[1] is None else vals[1],
            b2 if vals[2] is None else vals[2],
            b3 if vals[3] is None else vals[3],
        )


class EstimatorConfig(_Strict):
    """The estimator config file: klipper_estimator's fields plus the Marlin ones."""

    max_velocity: float | None = Field(default=None, gt=0)
    max_acceleration: float | None = Field(default=None, gt=0)
    max_accel_to_decel: float | None = Field(default=None, gt=0)
    minimum_cruise_ratio: float | None = Field(default=None, ge=0, le=1)
    square_corner_velocity: float | None = Field(default=None, ge=0)
    instant_corner_velocity: float | None = Field(default=None, ge=0)
    mm_per_arc_segment: float | None = Field(default=None, gt=0)
    firmware_retraction: FirmwareRetraction | None = None
    move_checkers: list[MoveChecker] = Field(default_factory=list)
    # Marlin planner fields
    junction_model: JunctionModel | None = None
    junction_deviation: float | None = Field(default=None, gt=0)
    max_jerk: AxisValues | None = None
    max_feedrate: AxisValues | None = None
    max_axis_acceleration: AxisValues | None = None
    print_acceleration: float | None = Field(default=None, gt=0)
    travel_acceleration: float | None = Field(default=None, gt=0)
    retract_acceleration: float | None = Field(default=None, gt=0)
    minimum_feedrate: float | None = Field(default=None, ge=0)
    minimum_travel_feedrate: float | None = Field(default=None, ge=0)


def parse_config(data: Any) -> EstimatorConfig:
    """Validate a decoded JSON config; raise ConfigError naming the field on any problem."""
    if not isinstance(data, dict):
        raise ConfigError("estimator config: expected a JSON object at the top level")
    try:
        return EstimatorConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        raise ConfigError(f"estimator config: field '{where}': {err['msg']}") from None


def load_config(path: str | os.PathLike[str]) -> EstimatorConfig:
    """Read and validate a JSON estimator config file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"estimator config: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"estimator config: {path} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"estimator config: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    return parse_config(data)


@dataclass
class Limits:
    """The mutable machine state the planner works with (changed by M201/M203/M204/M205...)."""

    model: JunctionModel = "classic_jerk"
    max_velocity: float = math.inf
    max_acceleration: float = MARLIN_ACCEL
    print_accel: float = MARLIN_ACCEL
    travel_accel: float = MARLIN_ACCEL
    retract_accel: float = MARLIN_ACCEL
    max_feedrate: list[float] = field(default_factory=lambda: list(MARLIN_MAX_FEEDRATE))
    max_axis_accel: list[float] = field(default_factory=lambda: list(MARLIN_MAX_ACCEL))
    jerk: list[float] = field(default_factory=lambda: list(MARLIN_JERK))
    junction_deviation: float = MARLIN_JUNCTION_DEVIATION
    square_corner_velocity: float = 5.0
    instant_corner_velocity: float = 1.0
    minimum_cruise_ratio: float | None = 0.0
    max_accel_to_decel: float | None = None
    min_feedrate: float = 0.0
    min_travel_feedrate: float = 0.0
    mm_per_arc_segment: float = 1.0
    retraction: FirmwareRetraction = field(default_factory=FirmwareRetraction)
    axis_limiters: list[AxisLimiter] = field(default_factory=list)
    extruder_limiter: ExtruderLimiter | None = None

    def copy(self) -> Limits:
        """An independent copy (the lists are duplicated)."""
        return Limits(
            **{
                **self.__dict__,
                "max_feedrate": list(self.max_feedrate),
                "max_axis_accel": list(self.max_axis_accel),
                "jerk": list(self.jerk),
                "axis_limiters": list(self.axis_limiters),
            }
        )

    def accel_to_decel(self) -> float:
        """Klipper's accel_to_decel derived from the cruise settings (§5.1)."""
        if self.minimum_cruise_ratio is not None:
            ratio = min(max(self.minimum_cruise_ratio, 0.0), 1.0)
            return self.max_acceleration * (1.0 - ratio)
        if self.max_accel_to_decel is not None:
            return min(self.max_accel_to_decel, self.max_acceleration)
        return min(50.0, self.max_acceleration)

    def klipper_junction_deviation(self) -> float:
        """Klipper's junction deviation from the square-corner velocity."""
        scv = self.square_corner_velocity
        return scv * scv * (math.sqrt(2.0) - 1.0) / self.max_acceleration

    def set_accel(self, value: float) -> None:
        """`M204 S` / Klipper ACCEL: printing and travel acceleration."""
        self.max_acceleration = value
        self.print_accel = value
        self.travel_accel = value


def _first_float(text: str) -> float | None:
    """The first comma-separated value of a slicer config entry (the 'normal' mode value)."""
    try:
        value = float(text.split(",")[0].strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_slicer_settings(path: str | os.PathLike[str], tail_bytes: int = 262144) -> dict[str, str]:
    """`; key = value` entries of the slicer config block at the end of a G-code file."""
    settings: dict[str, str] = {}
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - tail_bytes))
            tail = fh.read()
    except OSError:
        return settings
    for raw in tail.decode("utf-8", "replace").split("\n"):
        if not raw.startswith("; ") or " = " not in raw:
            continue
        key, _, value = raw[2:].partition(" = ")
        key = key.strip()
        if key.startswith(("machine_", "gcode_flavor")):
            settings[key] = value.strip()
    return settings


def limits_from_slicer(settings: dict[str, str]) -> tuple[Limits, list[str]]:
    """Limits from PrusaSlicer/SuperSlicer/OrcaSlicer `machine_max_*` entries (normal mode)."""
    lim = Limits()
    used: list[str] = []

    def num(key: str) -> float | None:
        raw = settings.get(key)
        value = None if raw is None else _first_float(raw)
        if value is not None:
            used.append(key)
        return value

    for i, axis in enumerate("xyze"):
        if (v := num(f"machine_max_feedrate_{axis}")) and v > 0:
            lim.max_feedrate[i] = v
        if (v := num(f"machine_max_acceleration_{axis}")) and v > 0:
            lim.max_axis_accel[i] = v
        if (v := num(f"machine_max_jerk_{axis}")) is not None and v >= 0:
            lim.jerk[i] = v
    if (v := num("machine_max_acceleration_extruding")) and v > 0:
        lim.print_accel = lim.max_acceleration = v
    if (v := num("machine_max_acceleration_travel")) and v > 0:
        lim.travel_accel = v
    elif lim.print_accel != MARLIN_ACCEL:
        lim.travel_accel = lim.print_accel
    if (v := num("machine_max_acceleration_retracting")) and v > 0:
        lim.retract_accel = v
    if (v := num("machine_min_extruding_rate")) is not None and v >= 0:
        lim.min_feedrate = v
    if (v := num("machine_min_travel_rate")) is not None and v >= 0:
        lim.min_travel_feedrate = v
    jd = num("machine_max_junction_deviation")
    if jd is not None and jd > 0:
        lim.junction_deviation = jd
        lim.model = "junction_deviation"
    return lim, used


# EstimatorConfig fields copied as they are onto Limits attributes when set.
_CONFIG_TO_LIMITS = (
    ("max_velocity", "max_velocity"),
    ("minimum_cruise_ratio", "minimum_cruise_ratio"),
    ("max_accel_to_decel", "max_accel_to_decel"),
    ("square_corner_velocity", "square_corner_velocity"),
    ("instant_corner_velocity", "instant_corner_velocity"),
    ("mm_per_arc_segment", "mm_per_arc_segment"),
    ("firmware_retraction", "retraction"),
    ("junction_deviation", "junction_deviation"),
    ("print_acceleration", "print_accel"),
    ("travel_acceleration", "travel_accel"),
    ("retract_acceleration", "retract_accel"),
    ("minimum_feedrate", "min_feedrate"),
    ("minimum_travel_feedrate", "min_travel_feedrate"),
)


def limits_from_config(cfg: EstimatorConfig, base: Limits | None = None) -> Limits:
    """Apply a validated config over `base` (slicer limits or defaults)."""
    lim = base.copy() if base is not None else Limits()
    marlin_fields = (
        cfg.junction_deviation,
        cfg.max_jerk,
        cfg.max_feedrate,
        cfg.max_axis_acceleration,
        cfg.print_acceleration,
        cfg.travel_acceleration,
        cfg.retract_acceleration,
    )
    klipper_style = cfg.square_corner_velocity is not None or cfg.move_checkers
    if cfg.junction_model is not None:
        lim.model = cfg.junction_model
    elif cfg.junction_deviation is not None:
        lim.model = "junction_deviation"
    elif cfg.max_jerk is not None:
        lim.model = "classic_jerk"
    elif klipper_style and all(f is None for f in marlin_fields):
        lim.model = "square_corner"
    if lim.model == "square_corner":
        # Klipper has no per-axis Marlin limits: only the move checkers limit axes.
        lim.max_feedrate = [math.inf] * 4
        lim.max_axis_accel = [math.inf] * 4
        lim.retract_accel = INSTANT_ACCEL
        lim.minimum_cruise_ratio = None
        lim.max_velocity = 100.0
        lim.set_accel(100.0)
    if cfg.max_acceleration is not None:
        lim.set_accel(cfg.max_acceleration)
    # Plain copies go after set_accel so print/travel_acceleration override max_acceleration.
    for cfg_name, lim_name in _CONFIG_TO_LIMITS:
        if (value := getattr(cfg, cfg_name)) is not None:
            setattr(lim, lim_name, value)
    for checker in cfg.move_checkers:
        if checker.axis_limiter is not None:
            lim.axis_limiters.append(checker.axis_limiter)
        elif checker.extruder_limiter is not None:
            lim.extruder_limiter = checker.extruder_limiter
    if cfg.max_jerk is not None:
        lim.jerk = list(cfg.max_jerk.merged(tuple(lim.jerk)))
    if cfg.max_feedrate is not None:
        lim.max_feedrate = list(cfg.max_feedrate.merged(tuple(lim.max_feedrate)))
    if cfg.max_axis_acceleration is not None:
        lim.max_axis_accel = list(cfg.max_axis_acceleration.merged(tuple(lim.max_axis_accel)))
    return lim


def resolve_limits(
    path: str | os.PathLike[str], config: EstimatorConfig | None = None
) -> tuple[Limits, str]:
    """The starting limits for a file and where they came from ("config", "file", "defaults")."""
    settings = read_slicer_settings(path)
    base, used = limits_from_slicer(settings)
    source = "file" if used else "defaults"
    if config is not None:
        return limits_from_config(config, base), "config"
    return base, source


def dump_limits(lim: Limits) -> dict[str, Any]:
    """The limits as an estimator config object (the `dump_config` result)."""
    out: dict[str, Any] = {
        "max_velocity": lim.max_velocity if math.isfinite(lim.max_velocity) else None,
        "max_acceleration": lim.max_acceleration,
        "minimum_cruise_ratio": lim.minimum_cruise_ratio,
        "square_corner_velocity": lim.square_corner_velocity,
        "instant_corner_velocity": lim.instant_corner_velocity,
        "move_checkers": [{"axis_limiter": a.model_dump()} for a in lim.axis_limiters]
        + (
            [{"extruder_limiter": lim.extruder_limiter.model_dump()}]
            if lim.extruder_limiter
            else []
        ),
        "junction_model": lim.model,
    }
    if lim.model != "square_corner":
        axes = "xyze"
        out.update(
            {
                "junction_deviation": lim.junction_deviation,
                "max_jerk": dict(zip(axes, lim.jerk, strict=True)),
                "max_feedrate": dict(zip(axes, lim.max_feedrate, strict=True)),
                "max_axis_acceleration": dict(zip(axes, lim.max_axis_accel, strict=True)),
                "print_acceleration": lim.print_accel,
                "travel_acceleration": lim.travel_accel,
                "retract_acceleration": lim.retract_accel,
            }
        )
    return {k: v for k, v in out.items() if v is not None}
