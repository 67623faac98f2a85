"""Simulated heaters (linear heating/cooling in simulated time) and Marlin's report line."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MAX_POWER = 127


@dataclass
class Heater:
    """One heater: the temperature moves toward its goal at a constant rate.

    Time is the event loop's clock; `scale` converts simulated seconds to real ones (0 means
    every change is instantaneous).
    """

    label: str  # "T0", "B", "C"
    ambient: float
    heat_rate: float
    cool_rate: float
    actual: float = 0.0
    target: float = 0.0
    _stamp: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if not self.actual:
            self.actual = self.ambient

    @property
    def goal(self) -> float:
        """Where the temperature is heading: the target, or ambient when switched off."""
        return self.target if self.target > 0 else self.ambient

    def update(self, now: float, scale: float) -> None:
        """Advance the temperature to time `now`."""
        elapsed = now - self._stamp
        self._stamp = now
        goal = self.goal
        if scale <= 0:
            self.actual = goal
            return
        sim = elapsed / scale
        if self.actual < goal:
            self.actual = min(goal, self.actual + self.heat_rate * sim)
        elif self.actual > goal:
            self.actual = max(goal, self.actual - self.cool_rate * sim)

    def set_target(self, now: float, scale: float, target: float) -> None:
        """Set a new target (0 = off) after bringing the temperature up to date."""
        self.update(now, scale)
        self.target = max(0.0, target)

    def seconds_to(self, level: float) -> float:
        """Simulated seconds until the temperature reaches `level` (inf if it never will)."""
        goal = self.goal
        if self.actual < level:
            if goal < level:
                return math.inf
            return (level - self.actual) / self.heat_rate
        if self.actual > level:
            if goal > level:
                return math.inf
            return (self.actual - level) / self.cool_rate
        return 0.0

    @property
    def power(self) -> int:
        """PWM power 0..127 as Marlin reports it in `@:`."""
        if self.target <= 0:
            return 0
        if self.actual < self.target - 0.5:
            return MAX_POWER
        # holding: power proportional to the loss to ambient
        return max(1, min(MAX_POWER, round((self.target - self.ambient) * 0.35)))


def _pair(label: str, heater: Heater) -> str:
    return f" {label}:{heater.actual:.2f} /{heater.target:.2f}"


def report(hotends: list[Heater], active: int, bed: Heater | None, chamber: Heater | None) -> str:
    """Marlin's `print_heater_states` text (starts with a space, no `ok`)."""
    parts = [_pair("T", hotends[active])]
    if bed is not None:
        parts.append(_pair("B", bed))
    if chamber is not None:
        parts.append(_pair("C", chamber))
    if len(hotends) > 1:
        parts.extend(_pair(f"T{i}", h) for i, h in enumerate(hotends))
    parts.append(f" @:{hotends[active].power}")
    if bed is not None:
        parts.append(f" B@:{bed.power}")
    if chamber is not None:
        parts.append(f" C@:{chamber.power}")
    if len(hotends) > 1:
        parts.extend(f" @{i}:{h.power}" for i, h in enumerate(hotends))
    return "".join(parts)
