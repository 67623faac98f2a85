"""Rewrite a file's M73 progress lines and slicer time comments to a new estimate, atomically."""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .estimator import Estimate, Progress, estimate_file
from .limits import EstimatorConfig, Limits
from .reader import is_marker_line
from .version import ESTIMATOR_VERSION

MARKER = "; Processed by moonlite analysis"
_PROCESSED = re.compile(
    rb"^; Processed by (?:moonlite analysis|klipper_estimator) (v?\d+(?:\.\d+)*)", re.M
)
_SLICERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("PrusaSlicer", re.compile(r"PrusaSlicer\S* \S+ on")),
    ("SuperSlicer", re.compile(r"SuperSlicer\S* \S+ on")),
    ("OrcaSlicer", re.compile(r"OrcaSlicer\S* \S+ on")),
    ("ideaMaker", re.compile(r"Sliced by ideaMaker")),
    ("Cura", re.compile(r"Generated with Cura_SteamEngine|GENERATOR\.NAME:Cura_SteamEngine")),
    ("Simplify3D", re.compile(r"Simplify3D\(R\) Version")),
)
HEAD_BYTES = 16384
TAIL_BYTES = 65536


@dataclass
class ProcessResult:
    """The `server.analysis.process` answer (plus the estimate when one was made)."""

    prev_processed: bool
    version: str
    bypassed: bool
    estimate: Estimate | None = None

    def as_dict(self) -> dict[str, object]:
        """The seed's response object."""
        return {
            "prev_processed": self.prev_processed,
            "version": self.version,
            "bypassed": self.bypassed,
        }


def previous_processing(path: str | os.PathLike[str]) -> str | None:
    """The version that processed this file before (from its last 64 KiB), if any."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - TAIL_BYTES))
        found = _PROCESSED.findall(fh.read())
    return found[-1].decode() if found else None


def detect_slicer(path: str | os.PathLike[str]) -> str | None:
    """The slicer that wrote the file, from comments at its start or end."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
        fh.seek(0, os.SEEK_END)
        fh.seek(max(len(head), fh.tell() - TAIL_BYTES))
        tail = fh.read()
    text = (head + b"\n" + tail).decode("utf-8", "replace")
    for name, pattern in _SLICERS:
        if pattern.search(text):
            return name
    return None


def format_dhms(seconds: float) -> str:
    """PrusaSlicer's duration format: '1d 2h 3m 4s' without the leading zero units."""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def _m73(line: str, elapsed: float, total: float) -> str:
    code, semi, comment = line.partition(";")
    ratio = elapsed / total if total > 0 else 1.0
    percent = min(100, max(0, math.floor(ratio * 100.0 + 1e-6)))  # sums differ in the last ulp
    remaining = max(0, round((total - elapsed) / 60.0))
    words = code.split()
    out = [words[0]]
    for word in words[1:]:
        key = word[:1].upper()
        if key in "PQ":
            out.append(f"{word[0]}{percent}")
        elif key in "RS":
            out.append(f"{word[0]}{remaining}")
        else:
            out.append(word)
    return " ".join(out) + (f" ;{comment}" if semi else "")


def _rewriter(
    slicer: str | None, total: float, first_layer: float | None
) -> Callable[[str, float | None], str | None]:
    """A function giving the new text of a line, or None to keep it."""
    ceil_total = math.ceil(total)

    def rewrite(line: str, elapsed: float | None) -> str | None:
        if elapsed is not None:
            if line.startswith("M73"):
                return _m73(line, elapsed, total)
            if line.startswith(";TIME_ELAPSED:"):
                return f";TIME_ELAPSED:{elapsed:.6f}"
            if line.startswith(";REMAINING_TIME:"):
                return f";REMAINING_TIME: {max(0, round(total - elapsed))}"
            return None
        if line.startswith("; estimated printing time (") and " = " in line:
            return line.partition(" = ")[0] + " = " + format_dhms(total)
        if line.startswith("; estimated first layer printing time (") and " = " in line:
            if first_layer is not None:
                return line.partition(" = ")[0] + " = " + format_dhms(first_layer)
            return None
        if slicer == "Cura" and line.startswith((";TIME:", ";PRINT.TIME:")):
            return line.partition(":")[0] + f":{ceil_total}"
        if slicer == "ideaMaker" and line.startswith((";Print Time:", ";PRINTING_TIME:")):
            return line.partition(":")[0] + f": {ceil_total}"
        if slicer == "Simplify3D" and line.startswith(";   Build Time:"):
            hours, rest = divmod(ceil_total, 3600)
            return f";   Build Time: {hours} hours {rest // 60} minutes {rest % 60} sec"
        return None

    return rewrite


def rewrite_file(path: Path, estimate: Estimate, slicer: str | None) -> None:
    """Write the rewritten file next to the original, then replace it atomically."""
    total = estimate.result["total_time"]
    printed_layers = [t for z, t in estimate.result["layer_times"] if z > 0]
    rewrite = _rewriter(slicer, total, printed_layers[0] if printed_layers else None)
    times = iter(estimate.marker_times)
    fd, tmp = tempfile.mkstemp(prefix=f".estimate.{path.name}.", dir=path.parent)
    try:
        with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
            last = b"\n"
            for raw in src:
                last = raw
                if raw.startswith(b"; Processed by moonlite analysis"):
                    continue
                if raw[:1] not in (b"M", b";"):
                    dst.write(raw)
                    continue
                body = raw.rstrip(b"\r\n")
                ending = raw[len(body) :]
                text = body.decode("utf-8", "replace")
                elapsed = next(times, None) if is_marker_line(text) else None
                new = rewrite(text, elapsed) if (elapsed is not None or text[:1] == ";") else None
                dst.write(raw if new is None else new.encode() + ending)
            if not last.endswith(b"\n"):
                dst.write(b"\n")
            dst.write(
                f"{MARKER} {ESTIMATOR_VERSION}, detected slicer {slicer or 'none'}\n".encode()
            )
            dst.flush()
            os.fsync(dst.fileno())
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def process_file(
    path: str | os.PathLike[str],
    config: EstimatorConfig | None = None,
    limits: Limits | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> ProcessResult:
    """Estimate and rewrite a file in place unless it was processed before (and not `force`)."""
    target = Path(path)
    prev = previous_processing(target)
    if prev is not None and not force:
        return ProcessResult(prev_processed=True, version=ESTIMATOR_VERSION, bypassed=True)
    estimate = estimate_file(target, config, limits, progress=progress, track_markers=True)
    rewrite_file(target, estimate, detect_slicer(target))
    return ProcessResult(
        prev_processed=prev is not None,
        version=ESTIMATOR_VERSION,
        bypassed=False,
        estimate=estimate,
    )
