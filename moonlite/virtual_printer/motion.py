"""Move planning: G-code position state, move durations and a timed block buffer."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

AXES = ("X", "Y", "Z", "E")


@dataclass
class Block:
    """A planned move: when it finishes (loop time) and where it ends (machine coordinates)."""

    due: float
    end: tuple[float, float, float, float]


@dataclass
class MotionState:
    """What G90/G91/M82/M83/G92/F/M220/M221 set, and the commanded position."""

    position: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])  # logical
    offset: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])  # logical - machine
    absolute: bool = True
    absolute_e: bool = True
    feedrate: float = 25.0  # mm/s (Marlin boots with 1500 mm/min)
    speed_factor: float = 100.0
    flow_factors: list[float] = field(default_factory=lambda: [100.0])
    homed: set[str] = field(default_factory=set)
    steppers_on: bool = False

    def machine(self) -> tuple[float, float, float, float]:
        """The commanded position in machine coordinates."""
        p, o = self.position, self.offset
        return (p[0] - o[0], p[1] - o[1], p[2] - o[2], p[3] - o[3])

    def target(self, params: dict[str, float | None]) -> list[float]:
        """The logical end position of a G0/G1 with these parameters."""
        end = list(self.position)
        for i, axis in enumerate(AXES):
            value = params.get(axis)
            if value is None:
                continue
            relative = not (self.absolute_e if axis == "E" else self.absolute)
            end[i] = end[i] + value if relative else value
        return end


def move_seconds(
    start: list[float], end: list[float], feedrate: float, max_feedrate: tuple[float, ...]
) -> float:
    """Constant-velocity duration of a straight move (feedrate in mm/s)."""
    deltas = [abs(b - a) for a, b in zip(start, end, strict=True)]
    distance = math.hypot(deltas[0], deltas[1], deltas[2]) or deltas[3]
    seconds = distance / feedrate if feedrate > 0 else 0.0
    for delta, limit in zip(deltas, max_feedrate, strict=True):
        if limit > 0:
            seconds = max(seconds, delta / limit)
    return seconds


def arc_length(
    start: list[float], end: list[float], params: dict[str, float | None], clockwise: bool
) -> float:
    """Length of a G2/G3 arc given by I/J (center offset) or R (radius)."""
    x0, y0, x1, y1 = start[0], start[1], end[0], end[1]
    i, j, r = params.get("I"), params.get("J"), params.get("R")
    if r is not None and i is None and j is None:
        chord = math.hypot(x1 - x0, y1 - y0)
        radius = abs(r)
        if radius == 0 or chord == 0:
            return chord
        half = min(1.0, chord / (2 * radius))
        sweep = 2 * math.asin(half)
        if r < 0:
            sweep = 2 * math.pi - sweep
        return math.hypot(radius * sweep, end[2] - start[2])
    cx, cy = x0 + (i or 0.0), y0 + (j or 0.0)
    radius = math.hypot(x0 - cx, y0 - cy)
    a0 = math.atan2(y0 - cy, x0 - cx)
    a1 = math.atan2(y1 - cy, x1 - cx)
    sweep = a0 - a1 if clockwise else a1 - a0
    if sweep <= 1e-9:
        sweep += 2 * math.pi
    return math.hypot(radius * sweep, end[2] - start[2])


class Planner:
    """Marlin's block buffer: moves finish one after another in (scaled) real time.

    Nothing runs in the background: a block is finished when the clock has passed its due
    time, so a planner with time_scale 0 never holds anything.
    """

    def __init__(self, blocks: int, clock: Callable[[], float]) -> None:
        self.capacity = blocks - 1  # Marlin keeps one block free
        self._clock = clock
        self._blocks: deque[Block] = deque()
        self._busy_until = 0.0
        self.executed: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def _retire(self) -> None:
        now = self._clock()
        while self._blocks and self._blocks[0].due <= now:
            self.executed = self._blocks.popleft().end

    def moves_free(self) -> int:
        """Free blocks (the `P` of ADVANCED_OK)."""
        self._retire()
        return self.capacity - len(self._blocks)

    @property
    def is_empty(self) -> bool:
        """Whether every planned move has finished."""
        self._retire()
        return not self._blocks

    async def add(self, real_seconds: float, end: tuple[float, float, float, float]) -> None:
        """Queue a move lasting `real_seconds`; waits while the buffer is full."""
        if real_seconds <= 0 and not self._blocks:
            self.executed = end
            return
        while self.moves_free() <= 0:  # noqa: ASYNC110 - sleeps to a known deadline
            await asyncio.sleep(max(0.0, self._blocks[0].due - self._clock()))
        now = self._clock()
        self._busy_until = max(now, self._busy_until) + max(0.0, real_seconds)
        self._blocks.append(Block(self._busy_until, end))

    async def synchronize(self) -> None:
        """Wait until every planned move has finished (M400, G4, G28, ...)."""
        while not self.is_empty:  # noqa: ASYNC110 - sleeps to a known deadline
            await asyncio.sleep(max(0.0, self._blocks[-1].due - self._clock()))

    def quickstop(self) -> tuple[float, float, float, float]:
        """Drop every pending block (M410); returns where the machine stopped."""
        self._retire()
        self._blocks.clear()
        self._busy_until = self._clock()
        return self.executed
