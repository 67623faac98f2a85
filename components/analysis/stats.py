"""Statistics of an estimate: totals, phase, kind and layer times (the seed's response shape)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from .planner import Finalized
from .reader import Delay

FILAMENT_AREA = math.pi * 0.875 * 0.875  # 1.75 mm filament, as klipper_estimator assumes


class Stats:
    """Accumulates finalised moves and delays; `result()` gives the API's estimate object."""

    def __init__(self, markers: list[tuple[int, float]] | None = None) -> None:
        self.total_time = 0.0
        self.distance = 0.0
        self.extrude_distance = 0.0
        self.max_flow = 0.0
        self.max_speed = 0.0
        self.num_moves = 0
        self.z_time = 0.0
        self.output_time = 0.0
        self.travel_time = 0.0
        self.extrude_only_time = 0.0
        self.indeterminate_time = 0.0
        self.dwell_time = 0.0
        self.phases = [0.0, 0.0, 0.0]
        self.kind_times: defaultdict[int | str, float] = defaultdict(float)
        self.layer_times: defaultdict[int, float] = defaultdict(float)
        # progress markers (moves before, delay seconds before): resolved batch by batch
        self.markers = markers
        self.marker_times: list[float] = []
        self._moving_time = 0.0

    def add_moves(self, fin: Finalized) -> None:
        """Fold a run of finalised moves into the totals."""
        t = fin.time
        if not len(t):
            return
        base = self.num_moves
        self.num_moves += len(t)
        total = float(t.sum())
        if self.markers is not None:
            self._resolve_markers(base, np.cumsum(t))
        self._moving_time += total
        self.total_time += total
        self.distance += float(fin.dist.sum())
        self.extrude_distance += float(fin.de.sum())
        self.phases[0] += float(fin.accel_t.sum())
        self.phases[1] += float(fin.cruise_t.sum())
        self.phases[2] += float(fin.decel_t.sum())
        moving_z = fin.dz != 0.0
        self.z_time += float(t[moving_z].sum())
        extruding = fin.kin & (fin.de > 0.0)
        self.output_time += float(t[extruding].sum())
        self.travel_time += float(t[fin.kin & ~extruding].sum())
        self.extrude_only_time += float(t[~fin.kin].sum())
        if fin.kin.any():
            self.max_speed = max(self.max_speed, float(fin.peak[fin.kin].max()))
        flowing = extruding & (t > 0.0)
        if flowing.any():
            flow = fin.de[flowing] * FILAMENT_AREA / t[flowing]
            self.max_flow = max(self.max_flow, float(flow.max()))
        kinds = np.bincount(fin.kind, weights=t)
        for kid in np.nonzero(kinds)[0]:
            self.kind_times[int(kid)] += float(kinds[kid])
        flat = ~moving_z
        if flat.any():
            keys = np.rint(fin.z[flat] * 1000.0).astype(np.int64)
            uniq, inverse = np.unique(keys, return_inverse=True)
            sums = np.bincount(inverse, weights=t[flat])
            for key, value in zip(uniq.tolist(), sums.tolist(), strict=True):
                self.layer_times[key] += value

    def add_delay(self, delay: Delay) -> None:
        """Count a pause: dwells belong to the layer they happen on, waits to no layer."""
        self.total_time += delay.seconds
        self.kind_times[delay.kind] += delay.seconds
        if delay.indeterminate:
            self.indeterminate_time += delay.seconds
        else:
            self.dwell_time += delay.seconds
            if math.isfinite(delay.z) and abs(delay.z) < 1e9:
                self.layer_times[round(delay.z * 1000.0)] += delay.seconds

    def _resolve_markers(self, base: int, cumulative: np.ndarray) -> None:
        """Elapsed time at the markers that fall within moves base..base+len(cumulative)."""
        assert self.markers is not None
        end = base + len(cumulative)
        done = len(self.marker_times)
        while done < len(self.markers) and self.markers[done][0] <= end:
            moves_before, delays_before = self.markers[done]
            moved = float(cumulative[moves_before - base - 1]) if moves_before > base else 0.0
            self.marker_times.append(self._moving_time + moved + delays_before)
            done += 1

    def finish_markers(self) -> list[float]:
        """Elapsed time at every marker (those after the last move included)."""
        if self.markers is not None:
            for _, delays_before in self.markers[len(self.marker_times) :]:
                self.marker_times.append(self._moving_time + delays_before)
        return self.marker_times

    def result(self, kind_names: list[str]) -> dict[str, Any]:
        """The estimate in the seed's `server.analysis.estimate` shape."""
        kind_times: dict[str, float] = {}
        for key, value in self.kind_times.items():
            name = kind_names[key] if isinstance(key, int) else key
            kind_times[name] = kind_times.get(name, 0.0) + value
        return {
            "total_time": self.total_time,
            "total_distance": self.distance,
            "total_extrude_distance": self.extrude_distance,
            "max_flow": self.max_flow,
            "max_speed": self.max_speed,
            "num_moves": self.num_moves,
            "total_z_time": self.z_time,
            "total_output_time": self.output_time,
            "total_travel_time": self.travel_time,
            "total_extrude_only_time": self.extrude_only_time,
            "phase_times": {
                "acceleration": self.phases[0],
                "cruise": self.phases[1],
                "deceleration": self.phases[2],
            },
            "kind_times": dict(sorted(kind_times.items())),
            "layer_times": [[k / 1000.0, v] for k, v in sorted(self.layer_times.items())],
        }
