"""Estimator jobs run in a worker process: plain arguments in, JSON-able results out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .estimator import estimate_file
from .limits import EstimatorConfig, limits_from_config, load_config, resolve_limits
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


def _config(config_path: str | None, fallback_path: str | None) -> tuple[
    EstimatorConfig | None, EstimatorConfig | None
]:
    explicit = load_config(config_path) if config_path else None
    fallback = None
    if explicit is None and fallback_path and os.path.isfile(fallback_path):
        fallback = load_config(fallback_path)
    return explicit, fallback


def _limits(path: str, config_path: str | None, fallback_path: str | None) -> Any:
    """Config given > limits the slicer recorded > printer's dumped config > defaults."""
    explicit, fallback = _config(config_path, fallback_path)
    limits, source = resolve_limits(path, explicit)
    if source == "defaults" and fallback is not None:
        limits = limits_from_config(fallback, limits)
    return limits


def estimate_job(path: str, config_path: str | None, fallback_path: str | None) -> dict[str, Any]:
    """Estimate one file; the seed's estimate object."""
    check_text_file(path)
    limits = _limits(path, config_path, fallback_path)
    return estimate_file(path, limits=limits).result


def process_job(
    path: str, config_path: str | None, fallback_path: str | None, force: bool
) -> dict[str, Any]:
    """Post-process one file in place; the seed's process object."""
    check_text_file(path)
    limits = _limits(path, config_path, fallback_path)
    return process_file(path, limits=limits, force=force).as_dict()
