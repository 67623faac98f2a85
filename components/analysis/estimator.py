"""Estimate a G-code file: stream it in chunks through the scanner, planner and statistics."""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .limits import EstimatorConfig, Limits, resolve_limits
from .planner import Planner
from .reader import STRIDE, Scanner
from .stats import Stats

CHUNK = 1 << 20
BATCH_MOVES = 1 << 15
MAX_LINE = 1 << 22  # a "line" longer than this without a newline is dropped

Progress = Callable[[int, int], None]


@dataclass
class Estimate:
    """The estimate object plus what post-processing needs."""

    result: dict[str, Any]
    limits_source: str
    marker_times: list[float] = field(default_factory=list)
    indeterminate_time: float = 0.0
    lines: int = 0


class Estimator:
    """One estimate run: feed text with `feed_lines`, then `finish`."""

    def __init__(self, limits: Limits, track_markers: bool = False) -> None:
        self.limits = limits
        initial_feed = limits.max_velocity if limits.model == "square_corner" else 25.0
        self.scanner = Scanner(limits, initial_feed=initial_feed)
        self.stats = Stats(self.scanner.markers if track_markers else None)
        self.planner = Planner(limits.model, limits, self.stats.add_moves)
        self._delays_done = 0

    def feed_lines(self, lines: Iterable[str], final: bool = False) -> None:
        """Scan lines and plan the moves gathered so far when a batch is full."""
        self.scanner.scan(lines)
        if final or len(self.scanner.moves) >= BATCH_MOVES * STRIDE:
            self._plan(final)

    def _plan(self, final: bool) -> None:
        sc = self.scanner
        buf = sc.moves
        sc.moves = array("d")
        rec = np.frombuffer(buf, dtype=np.float64).reshape(-1, STRIDE) if len(buf) else None
        self.planner.set_epochs(sc.epochs)
        self.planner.add(rec if rec is not None else np.zeros((0, STRIDE)), final)
        for delay in sc.delays[self._delays_done :]:
            self.stats.add_delay(delay)
        self._delays_done = len(sc.delays)

    def finish(self, source: str = "config") -> Estimate:
        """Flush the planner and return the estimate."""
        self._plan(final=True)
        sc = self.scanner
        return Estimate(
            result=self.stats.result(sc.kind_names),
            limits_source=source,
            marker_times=self.stats.finish_markers(),
            indeterminate_time=self.stats.indeterminate_time,
            lines=sc.lines,
        )


def iter_text_chunks(
    path: str | os.PathLike[str], progress: Progress | None = None
) -> Iterable[list[str]]:
    """Lines of a file in lists of about CHUNK bytes, never loading the whole file."""
    size = os.path.getsize(path)
    done = 0
    carry = b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(CHUNK)
            if not block:
                break
            done += len(block)
            data = carry + block
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data if len(data) <= MAX_LINE else b""
                continue
            carry = data[cut + 1 :]
            yield data[:cut].decode("utf-8", "replace").split("\n")
            if progress is not None:
                progress(done, size)
    if carry:
        yield [carry.decode("utf-8", "replace")]
    if progress is not None:
        progress(size, size)


def estimate_file(
    path: str | os.PathLike[str],
    config: EstimatorConfig | None = None,
    limits: Limits | None = None,
    progress: Progress | None = None,
    track_markers: bool = False,
) -> Estimate:
    """Estimate a file: limits from `limits`, else `config` over the file's recorded limits."""
    source = "given"
    if limits is None:
        limits, source = resolve_limits(path, config)
    est = Estimator(limits, track_markers=track_markers)
    for lines in iter_text_chunks(path, progress):
        est.feed_lines(lines)
    return est.finish(source)


def estimate_text(text: str, limits: Limits | None = None) -> dict[str, Any]:
    """Estimate G-code given as a string (for tests and small snippets)."""
    est = Estimator(limits if limits is not None else Limits())
    est.feed_lines(text.split("\n"))
    return est.finish().result
