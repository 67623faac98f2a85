"""Estimator jobs run in a worker process: plain arguments in, JSON-able results out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .estimator import estimate_file
from .limits import (
    EstimatorConfig,
    Limits,
    limits_from_config,
    load_config,
    parse_config,
    resolve_limits,
)
from .postprocess import process_file

BINARY_GCODE_MAGIC = b"GCDE"
SNIFF_BYTES = 8192


class NotGcodeError(ValueError):
    """The file is not G-code text (binary data, or PrusaSlicer's binary .bgcode)."""


def check_text_file(path: str | os.PathLike[str]) -> None:
    """Refuse binary files with a clear error (the estimator itself accepts any bytes)."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith(BINARY_GCODE_MAGIC):
        raise NotGcodeError(f"{Path(path).name}: binary G-code (bgcode) is not supported")
    if b"\x00" in head:
        raise NotGcodeError(f"{Path(path).name}: not a G-code text file (binary data)")
    if head:
        text_like = sum(1 for b in head if b >= 32 or b in (9, 10, 13))
        if text_like / len(head) < 0.9:
            raise NotGcodeError(f"{Path(path).name}: not a G-code text file (binary data)")


Fallback = str | dict[str, Any] | None


def _config(
    config_path: str | None, fallback: Fallback
) -> tuple[EstimatorConfig | None, EstimatorConfig | None]:
    explicit = load_config(config_path) if config_path else None
    backup = None
    if explicit is None and isinstance(fallback, dict):
        backup = parse_config(fallback)
    elif explicit is None and isinstance(fallback, str) and os.path.isfile(fallback):
        backup = load_config(fallback)
    return explicit, backup


def _limits(path: str, config_path: str | None, fallback: Fallback) -> Limits:
    """Config given > limits the slicer recorded > the printer's own (`fallback`) > defaults."""
    explicit, backup = _config(config_path, fallback)
    limits, source = resolve_limits(path, explicit)
    if source == "defaults" and backup is not None:
        limits = limits_from_config(backup, limits)
    return limits


def estimate_job(path: str, config_path: str | None, fallback: Fallback) -> dict[str, Any]:
    """Estimate one file; the seed's estimate object."""
    check_text_file(path)
    limits = _limits(path, config_path, fallback)
    return estimate_file(path, limits=limits).result


def process_job(
    path: str, config_path: str | None, fallback: Fallback, force: bool
) -> dict[str, Any]:
    """Post-process one file in place; the seed's process object."""
    check_text_file(path)
    limits = _limits(path, config_path, fallback)
    return process_file(path, limits=limits, force=force).as_dict()
