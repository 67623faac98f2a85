"""Scanner state shared by the fast line loop and the general command parser."""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from .limits import Limits

# Fields of one move record in `ScanState.moves` (a flat array of doubles).
STRIDE = 8
DX, DY, DZ, DE, FEED, ZPOS, KIND, TAG = range(STRIDE)
# TAG = epoch * 2 + 1 when the toolhead stops before the move (a sync point).

INDETERMINATE_TIME = 0.1
INDETERMINATE_KIND = "Indeterminate time"
DWELL_KIND = "Dwell"
OTHER_KIND = "Other"
INDETERMINATE = frozenset({"G28", "G29", "M109", "M190", "M191", "M600", "M0", "M1"})
MAX_ARC_SEGMENTS = 2000.0
LIMIT = 1e9  # coordinates beyond this are garbage: the line is ignored

MARKER_PREFIXES = (";TIME_ELAPSED:", ";REMAINING_TIME:")


def is_marker_line(line: str) -> bool:
    """A line whose rewrite depends on the time elapsed when it is reached."""
    if line.startswith("M73") and (len(line) == 3 or not line[3].isdigit()):
        return True
    return line.startswith(MARKER_PREFIXES)


@dataclass(slots=True)
class Delay:
    """A pause of the toolhead between moves (dwell, heating, homing...)."""

    before_move: int
    seconds: float
    kind: str
    z: float
    indeterminate: bool


class ScanState:
    """Positions, modes, limits and the gathered moves, delays and markers of one scan."""

    def __init__(self, limits: Limits, initial_feed: float = 25.0) -> None:
        self.limits = limits.copy()  # changed by M201/M203/M204/M205 as the file goes
        self.epochs: list[Limits] = [limits.copy()]
        self.moves: array[float] = array("d")
        self.delays: list[Delay] = []
        self.markers: list[tuple[int, float]] = []
        self.kind_names: list[str] = [OTHER_KIND]
        self.kind_ids: dict[str, int] = {OTHER_KIND: 0}
        self.n_moves = 0
        self.delay_total = 0.0
        self.x = self.y = self.z = self.e = 0.0
        self.abs_xyz = True
        self.abs_e = True  # Marlin's default (not klipper_estimator's relative-E quirk)
        self.m82_e = True
        self.units = 1.0
        self.feed = initial_feed
        self.feed_mult = 1.0
        self.flow = 1.0
        self.kind = 0
        self.tag = 0.0
        self.plane = 17
        self.retracted = False
        self.lines = 0

    # -- helpers used by the slow path ------------------------------------------------------

    def kind_id(self, name: str) -> int:
        """The id of a move kind, registering it on first use."""
        if name.startswith("move to next layer "):
            name = "move to next layer"
        kid = self.kind_ids.get(name)
        if kid is None:
            kid = self.kind_ids[name] = len(self.kind_names)
            self.kind_names.append(name)
        return kid

    def new_epoch(self) -> None:
        """Snapshot the limits after a change: later moves use the new ones."""
        self.epochs.append(self.limits.copy())
        self.tag = (len(self.epochs) - 1) * 2.0 + (self.tag % 2.0)

    def sync(self) -> None:
        """The toolhead comes to rest before the next move."""
        self.tag = self.tag - (self.tag % 2.0) + 1.0

    def delay(self, seconds: float, kind: str, indeterminate: bool = False) -> None:
        """A pause between moves; ends the current look-ahead sequence."""
        if not (0.0 <= seconds < LIMIT):
            return
        self.sync()
        self.delays.append(Delay(self.n_moves, seconds, kind, self.z, indeterminate))
        self.delay_total += seconds

    def push_move(self, nx: float, ny: float, nz: float, ne: float, kind: int) -> None:
        """Append a move to (nx, ny, nz, ne) from the current position."""
        dx, dy, dz, de = nx - self.x, ny - self.y, nz - self.z, ne - self.e
        self.x, self.y, self.z, self.e = nx, ny, nz, ne
        if dx or dy or dz or de:
            self.moves.extend((dx, dy, dz, de * self.flow, self.feed, nz, kind, self.tag))
            self.tag -= self.tag % 2.0
            self.n_moves += 1

    # -- the hot loop -----------------------------------------------------------------------
