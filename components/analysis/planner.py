"""Look-ahead planner over move batches (numpy): speeds, junctions, trapezoids and move times.

Entry speeds are the largest that respect every junction limit and that the moves can reach
and brake from: with `c = 2·a·d` per move and a bound `M` per junction (in speed²), that is the
min-plus closure `V[j] = min_k (M[k] + |S[j] - S[k]|)` with `S` the running sum of `c`, which
two cumulative minimums compute. Marlin's and Klipper's forward/backward passes converge to
the same speeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .limits import INSTANT_ACCEL, JunctionModel, Limits
from .reader import DE, DX, DY, DZ, FEED, KIND, TAG, ZPOS

Arr = npt.NDArray[np.float64]

# columns of the per-epoch parameter table
(
    C_VMAX, C_APRINT, C_ATRAVEL, C_ARETRACT,
    C_FX, C_FY, C_FZ, C_FE, C_AX, C_AY, C_AZ, C_AE, C_JX, C_JY, C_JZ, C_JE,
    C_JD, C_ATD, C_MINF, C_MINTF, C_ICV,
) = range(21)  # fmt: skip
NCOLS = 21
# keep this many moves un-finalised at a batch cut: their speeds may still drop
TAIL = 1024
COS_REVERSAL = 0.999999


def epoch_row(lim: Limits) -> list[float]:
    """One row of the parameter table for a limits snapshot."""
    if lim.model == "square_corner":
        jd = lim.klipper_junction_deviation()
        atd = lim.accel_to_decel()
    else:
        jd = lim.junction_deviation
        atd = math.inf
    return [
        lim.max_velocity, lim.print_accel, lim.travel_accel, lim.retract_accel,
        *lim.max_feedrate, *lim.max_axis_accel, *lim.jerk,
        jd, atd, lim.min_feedrate, lim.min_travel_feedrate, lim.instant_corner_velocity,
    ]  # fmt: skip


@dataclass
class Finalized:
    """Per-move results of a finalised run of moves (all arrays have one entry per move)."""

    time: Arr
    accel_t: Arr
    cruise_t: Arr
    decel_t: Arr
    dist: Arr
    dz: Arr
    de: Arr
    z: Arr
    kind: npt.NDArray[np.int64]
    kin: npt.NDArray[np.bool_]
    peak: Arr


_FIELDS = ("m", "c", "cs", "cruise2", "acc", "dist", "dz", "de", "z", "kind", "kin")


class Planner:
    """Feed raw move records in batches; finalised moves go to `sink` in file order."""

    def __init__(self, model: JunctionModel, limits: Limits, sink: Callable[[Finalized], None]):
        self.model = model
        self.sink = sink
        self.axis_limiters = [
            (np.asarray(a.axis, dtype=float), a.max_velocity, a.max_accel)
            for a in limits.axis_limiters
        ]
        ext = limits.extruder_limiter
        self.extruder_limiter = (ext.max_velocity, ext.max_accel) if ext else None
        self.table = np.zeros((0, NCOLS))
        self.tail: dict[str, np.ndarray] | None = None
        self.prev: dict[str, float] | None = None  # the last move seen, for its junction
        # bound on the first pending junction (speed², fixed by already finalised moves)
        self.start_v2 = math.inf
        self.start_s2 = math.inf

    def set_epochs(self, epochs: list[Limits]) -> None:
        """Refresh the per-epoch parameter table (append-only)."""
        if len(epochs) != len(self.table):
            self.table = np.array([epoch_row(e) for e in epochs], dtype=float)

    # -- per-move quantities ----------------------------------------------------------------

    def _moves(self, rec: Arr) -> dict[str, np.ndarray]:
        dx, dy, dz, de = rec[:, DX], rec[:, DY], rec[:, DZ], rec[:, DE]
        feed, tag = rec[:, FEED], rec[:, TAG]
        epoch = (tag // 2).astype(np.int64)
        np.clip(epoch, 0, len(self.table) - 1, out=epoch)
        brk = (tag % 2) == 1
        p = self.table[epoch]
        xyz2 = dx * dx + dy * dy + dz * dz
        kin = xyz2 > 0.0
        dist = np.maximum(np.where(kin, np.sqrt(xyz2), np.abs(de)), 1e-9)
        inv = 1.0 / dist
        rates = (dx * inv, dy * inv, dz * inv, de * inv)
        klipper = self.model == "square_corner"
        if klipper:
            fcmd = feed
            cruise = np.where(kin, np.minimum(feed, p[:, C_VMAX]), feed)
            acc = np.where(kin, p[:, C_APRINT], INSTANT_ACCEL)
        else:
            fcmd = np.maximum(feed, np.where(de == 0.0, p[:, C_MINTF], p[:, C_MINF]))
            cruise = np.where(kin, np.minimum(fcmd, p[:, C_VMAX]), fcmd)
            travel = kin & ((de < 0.0) | ((de == 0.0) | ((dx == 0.0) & (dy == 0.0))))
            acc = np.where(travel, p[:, C_ATRAVEL], np.where(kin, p[:, C_APRINT], p[:, C_ARETRACT]))
        with np.errstate(divide="ignore", invalid="ignore"):
            for i, r in enumerate(rates):
                ar = np.abs(r)
                cruise = np.where(ar * cruise > p[:, C_FX + i], p[:, C_FX + i] / ar, cruise)
                acc = np.where(ar * acc > p[:, C_AX + i], p[:, C_AX + i] / ar, acc)
        atd = np.minimum(p[:, C_ATD], acc)
        if klipper:
            atd = np.where(kin, atd, np.inf)
        cruise2 = cruise * cruise
        for axis, vmax, amax in self.axis_limiters:
            dot = np.abs(rates[0] * axis[0] + rates[1] * axis[1] + rates[2] * axis[2])
            with np.errstate(divide="ignore"):
                ratio = np.where(kin & (dot > 0), 1.0 / dot, np.inf)
            cruise2 = np.minimum(cruise2, (vmax * ratio) ** 2)
            acc = np.minimum(acc, amax * ratio)
            atd = np.minimum(atd, acc)
        if self.extruder_limiter is not None:
            vmax, amax = self.extruder_limiter
            cruise2 = np.where(kin, cruise2, np.minimum(cruise2, vmax * vmax))
            acc = np.where(kin, acc, np.minimum(acc, amax))
            atd = np.minimum(atd, acc)
        np.maximum(cruise2, 1e-12, out=cruise2)
        np.maximum(acc, 1e-6, out=acc)
        cruise = np.sqrt(cruise2)
        mv = {
            "kin": kin, "dist": dist, "rx": rates[0], "ry": rates[1], "rz": rates[2],
            "re": rates[3], "cruise": cruise, "cruise2": cruise2, "fcmd": fcmd, "acc": acc,
            "atd": atd, "brk": brk, "dz": dz, "de": de, "z": rec[:, ZPOS],
            "kind": rec[:, KIND].astype(np.int64), "jd": p[:, C_JD], "icv": p[:, C_ICV],
            "jerk": p[:, C_JX : C_JE + 1], "amax": p[:, C_AX : C_AE + 1],
        }  # fmt: skip
        mv["safe"] = self._safe_speed(mv) if self.model == "classic_jerk" else np.zeros(len(dist))
        return mv

    @staticmethod
    def _safe_speed(mv: dict[str, np.ndarray]) -> Arr:
        safe = mv["cruise"].copy()
        jerk = mv["jerk"]
        for i, key in enumerate(("rx", "ry", "rz", "re")):
            axis_feed = np.abs(mv[key] * mv["cruise"])
            safe = np.where(axis_feed > jerk[:, i], np.minimum(safe, jerk[:, i]), safe)
        return safe

    def _shifted(self, mv: dict[str, np.ndarray], key: str, fill: float) -> np.ndarray:
        arr = mv[key]
        first = self.prev[key] if self.prev is not None else fill
        return np.concatenate(([first], arr[:-1]))

    # -- junctions --------------------------------------------------------------------------

    def _junctions(self, mv: dict[str, np.ndarray]) -> Arr:
        """Speed² bound at the start of each move from its junction with the previous one."""
        has_prev = np.ones(len(mv["dist"]), dtype=bool)
        if self.prev is None:
            has_prev[0] = False
        if self.model == "classic_jerk":
            v2 = self._jerk_junction(mv) ** 2
            safe_prev = self._shifted(mv, "safe", 0.0)
            stop = np.minimum(safe_prev, mv["safe"]) ** 2
            v2 = np.where(mv["brk"], np.minimum(v2, stop), v2)
            return np.where(has_prev, v2, mv["safe"] ** 2)
        v2 = self._deviation_junction(mv)
        return np.where(has_prev & ~mv["brk"], v2, 0.0)

    def _jerk_junction(self, mv: dict[str, np.ndarray]) -> Arr:
        """Marlin's classic jerk junction speed (as PrusaSlicer's estimator computes it)."""
        cruise, safe, jerk = mv["cruise"], mv["safe"], mv["jerk"]
        fprev = self._shifted(mv, "fcmd", 0.0)
        safe_prev = self._shifted(mv, "safe", 0.0)
        cruise_prev = self._shifted(mv, "cruise", 0.0)
        prev_larger = fprev > cruise
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(prev_larger, cruise / fprev, 1.0)
            vj = np.where(prev_larger, cruise, fprev)
            vf = np.ones_like(cruise)
            for i, key in enumerate(("rx", "ry", "rz", "re")):
                v_exit = self._shifted(mv, key, 0.0) * cruise_prev * factor * vf
                v_entry = mv[key] * cruise * vf
                jerk_v = np.where(
                    v_exit > v_entry,
                    np.where((v_entry > 0) | (v_exit < 0), v_exit - v_entry,
                             np.maximum(v_exit, -v_entry)),
                    np.where((v_entry < 0) | (v_exit > 0), v_entry - v_exit,
                             np.maximum(-v_exit, v_entry)),
                )  # fmt: skip
                lim = jerk[:, i]
                vf = np.where(jerk_v > lim, vf * lim / jerk_v, vf)
        vj = vj * vf
        thr = vj * 0.99
        vj = np.where((safe_prev > thr) & (safe > thr), safe, vj)
        return np.where(fprev > 1e-4, vj, safe)

    def _deviation_junction(self, mv: dict[str, np.ndarray]) -> Arr:
        """Junction-deviation corner speed² (Klipper's square-corner form or Marlin's JD)."""
        klipper = self.model == "square_corner"
        keys = ("rx", "ry", "rz") if klipper else ("rx", "ry", "rz", "re")
        cur = [mv[k] for k in keys]
        prv = [self._shifted(mv, k, 0.0) for k in keys]
        if not klipper:  # Marlin's unit vectors include E
            n1 = np.sqrt(sum(c * c for c in cur))
            n0 = np.sqrt(sum(c * c for c in prv))
            with np.errstate(divide="ignore", invalid="ignore"):
                cur = [c / n1 for c in cur]
                prv = [c / n0 for c in prv]
        cos = -sum(c * p for c, p in zip(cur, prv, strict=True))
        reversal = ~(cos <= COS_REVERSAL)  # also catches NaN
        cos = np.clip(cos, -COS_REVERSAL, COS_REVERSAL)
        s = np.sqrt(0.5 * (1.0 - cos))
        r = s / (1.0 - s)
        acc, jd = mv["acc"], mv["jd"]
        acc_prev, jd_prev = self._shifted(mv, "acc", 0.0), self._shifted(mv, "jd", 0.0)
        cruise2_prev = self._shifted(mv, "cruise2", 0.0)
        if not klipper:
            acc = _junction_acceleration(acc, cur, prv, mv["amax"])
        v2 = np.minimum(np.minimum(r * jd * acc, mv["cruise2"]), cruise2_prev)
        if not klipper:
            # Marlin's JD_HANDLE_SMALL_SEGMENTS: a gentle turn between short moves is taken as
            # an arc of radius length/turn angle, at most as fast as its centripetal limit
            turn = np.maximum(np.arccos(np.clip(-cos, -1.0, 1.0)), 1e-6)
            small = (mv["dist"] < 1.0) & (cos < -0.7071067812)
            v2 = np.where(small, np.minimum(v2, mv["dist"] * acc / turn), v2)
        if klipper:
            v2 = np.minimum(v2, r * jd_prev * acc_prev)
            tan_half = s / np.sqrt(0.5 * (1.0 + cos))
            dist_prev = self._shifted(mv, "dist", 0.0)
            v2 = np.minimum(v2, 0.5 * mv["dist"] * tan_half * acc)
            v2 = np.minimum(v2, 0.5 * dist_prev * tan_half * acc_prev)
            de_rate = np.abs(mv["re"] - self._shifted(mv, "re", 0.0))
            with np.errstate(divide="ignore"):
                ext = np.where(de_rate > 0, (mv["icv"] / de_rate) ** 2, np.inf)
            v2 = np.minimum(v2, ext)
            both_kin = mv["kin"] & self._shifted(mv, "kin", False).astype(bool)
            v2 = np.where(both_kin, v2, 0.0)
        return np.where(reversal, 0.0, v2)

    # -- batches ----------------------------------------------------------------------------

    def add(self, rec: Arr, final: bool) -> None:
        """Plan a batch of raw move records; `final` flushes everything to a stop."""
        # garbage input may overflow to inf; the results are clamped, the warnings are noise
        with np.errstate(all="ignore"):
            self._add(rec, final)

    def _add(self, rec: Arr, final: bool) -> None:
        if len(rec):
            mv = self._moves(rec)
            m = np.nan_to_num(self._junctions(mv), nan=0.0)  # undefined corner: stop there
            new = {
                "m": m, "c": 2.0 * mv["acc"] * mv["dist"], "cs": 2.0 * mv["atd"] * mv["dist"],
                "cruise2": mv["cruise2"], "acc": mv["acc"], "dist": mv["dist"], "dz": mv["dz"],
                "de": mv["de"], "z": mv["z"], "kind": mv["kind"], "kin": mv["kin"],
                "safe": mv["safe"],
            }  # fmt: skip
            last = {k: float(v[-1]) for k, v in mv.items() if v.ndim == 1}
            self.prev = last
            if self.tail is not None:
                new = {k: np.concatenate((self.tail[k], new[k])) for k in new}
            self.tail = new
        if self.tail is None:
            return
        n = len(self.tail["m"])
        if not final and n <= TAIL:
            return
        self._solve(self.tail, n if final else n - TAIL, final)

    def _solve(self, mv: dict[str, np.ndarray], keep_from: int, final: bool) -> None:
        n = len(mv["m"])
        m = np.empty(n + 1)
        m[:n] = mv["m"]
        m[0] = min(m[0], self.start_v2)
        if final:
            m[n] = mv["safe"][-1] ** 2 if self.model == "classic_jerk" else 0.0
        else:
            m[n] = np.inf
        # a speed-change budget above every reachable speed² never binds: capping it keeps the
        # running sums small enough to stay exact
        cap = 4.0 * float(mv["cruise2"].max()) + 1.0
        c = np.minimum(mv["c"], cap)
        v = _closure(m, c)
        peak2 = np.minimum(mv["cruise2"], 0.5 * (v[:-1] + v[1:] + c))
        if self.model == "square_corner":
            ms = m.copy()
            ms[0] = min(ms[0], self.start_s2)
            cs = np.minimum(mv["cs"], cap)
            sm = _closure(ms, cs)
            peak2 = np.minimum(peak2, _klipper_cruise(v, sm, cs, mv["cruise2"], cap))
            self.start_s2 = float(sm[keep_from])
        self.start_v2 = float(v[keep_from])
        k = keep_from
        v0 = np.sqrt(np.minimum(v[:k], peak2[:k]))
        v1 = np.sqrt(np.minimum(v[1 : k + 1], peak2[:k]))
        vc = np.sqrt(peak2[:k])
        acc, dist = mv["acc"][:k], mv["dist"][:k]
        accel_t = (vc - v0) / acc
        decel_t = (vc - v1) / acc
        accel_d = (vc * vc - v0 * v0) / (2.0 * acc)
        decel_d = (vc * vc - v1 * v1) / (2.0 * acc)
        cruise_d = np.maximum(dist - accel_d - decel_d, 0.0)
        cruise_t = cruise_d / np.maximum(vc, 1e-9)
        time = accel_t + cruise_t + decel_t
        self.sink(
            Finalized(
                time=time, accel_t=accel_t, cruise_t=cruise_t, decel_t=decel_t, dist=dist,
                dz=mv["dz"][:k], de=mv["de"][:k], z=mv["z"][:k], kind=mv["kind"][:k],
                kin=mv["kin"][:k], peak=vc,
            )
        )  # fmt: skip
        self.tail = None if k >= n else {key: arr[k:] for key, arr in mv.items()}
        if final:
            self.prev = None
            self.start_v2 = self.start_s2 = math.inf


def _junction_acceleration(acc: Arr, cur: list[Arr], prv: list[Arr], amax: Arr) -> Arr:
    """Marlin limits the junction's acceleration by each axis maximum along cur - prev."""
    diff = [c - p for c, p in zip(cur, prv, strict=True)]
    norm = np.sqrt(sum(d * d for d in diff))
    out = acc
    for i, d in enumerate(diff):
        share = np.abs(d) / np.where(norm > 0, norm, 1.0)
        out = np.where(out * share > amax[:, i], amax[:, i] / np.where(share > 0, share, 1.0), out)
    return out


def _klipper_cruise(v: Arr, sm: Arr, cs: Arr, cruise2: Arr, cap: float) -> Arr:
    """Klipper's cruise speed² per move under accel_to_decel smoothing (reference §5.5).

    A move that can accelerate in the smoothed profile sets the peak, the triangle of its
    smoothed speeds; moves after it that only decelerate ("delayed") cruise at that peak,
    capped by the lowest start speed met since. The other accelerating moves use the peak
    last set after them.
    """
    n = len(cs)
    start, nxt = sm[:-1], sm[1:]
    own = np.minimum(cruise2, 0.5 * (start + nxt + cs))
    # the closure's sums are exact only to rounding: ties (a move accelerating or braking over
    # its whole length) are decided with a small tolerance, as the exact arithmetic would
    eps = 1e-9 * np.maximum(nxt + cs, 1.0)
    accel = start < nxt + cs - eps
    delayed = ~accel
    next_delayed = np.append(delayed[1:], False)
    sets = accel & ((start + cs > nxt + eps) | next_delayed)
    index = np.arange(n)
    # accelerating moves: the peak set by the nearest move at or after them
    nearest = np.minimum.accumulate(np.where(sets, index, n)[::-1])[::-1]
    peak_at = np.append(own, np.inf)
    result = np.where(accel, peak_at[nearest], np.inf)
    no_peak = accel & (nearest == n)
    result = np.where(no_peak, own, result)
    # delayed moves: the peak of the accelerating move before them, capped by start speeds
    group = np.cumsum(accel)
    leader = np.maximum.accumulate(np.where(accel, index, -1))
    lead_peak = np.where(leader >= 0, own[np.maximum(leader, 0)], np.inf)
    offset = group * (cap + float(v[:-1].max(initial=0.0)) + 1.0)
    starts = np.where(delayed, v[:-1], np.inf) - offset
    capped = np.minimum.accumulate(starts) + offset
    delayed_cruise = np.minimum(lead_peak, capped)
    delayed_cruise = np.where(leader >= 0, delayed_cruise, own)
    return np.where(delayed, delayed_cruise, result)


def _closure(m: Arr, c: Arr) -> Arr:
    """Largest speeds² v with v ≤ m and |v[j+1] - v[j]| ≤ c[j] (reachability both ways)."""
    s = np.empty(len(m))
    s[0] = 0.0
    np.cumsum(c, out=s[1:])
    backward = np.minimum.accumulate((m + s)[::-1])[::-1] - s
    forward = np.minimum.accumulate(m - s) + s
    return np.maximum(np.minimum(backward, forward), 0.0)
