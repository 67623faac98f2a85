"""Streaming G-code reader: turns lines into a flat move buffer, delays and progress markers."""

from __future__ import annotations

from collections.abc import Iterable

from .commands import Commands
from .scanstate import (
    DE,
    DX,
    DY,
    DZ,
    FEED,
    KIND,
    LIMIT,
    MARKER_PREFIXES,
    OTHER_KIND,
    STRIDE,
    TAG,
    ZPOS,
    Delay,
    is_marker_line,
)

__all__ = ["DE", "DX", "DY", "DZ", "FEED", "KIND", "STRIDE", "TAG", "ZPOS", "Delay", "Scanner",
           "is_marker_line"]


class Scanner(Commands):
    """State machine over G-code lines; call `scan` with successive lists of lines."""

    def scan(self, lines: Iterable[str]) -> None:
        """Process lines (without their newline); never raises on any input."""
        x, y, z, e = self.x, self.y, self.z, self.e
        abs_xyz, abs_e, units = self.abs_xyz, self.abs_e, self.units
        feed, fmul, flow = self.feed, self.feed_mult / 60.0, self.flow
        kind, tag = self.kind, self.tag
        kind_ids = self.kind_ids
        ext = self.moves.extend
        n = self.n_moves
        nlines = 0
        for line in lines:
            nlines += 1
            if not line:
                continue
            raw = line
            if line[0] == "N":  # "N123 G1 X5*71" (a host's log): drop the number and checksum
                space = line.find(" ")
                star = line.rfind("*")
                if space > 0 and line[1:space].isdigit():
                    line = line[space + 1 : star] if star > space else line[space + 1 :]
            head = line[:3]
            if (head == "G1 " or head == "G0 ") and units == 1.0:
                semi = line.find(";")
                if semi >= 0:
                    comment = line[semi + 1 :].strip()
                    code = line[3:semi]
                else:
                    comment = ""
                    code = line[3:]
                nx, ny, nz, ne = x, y, z, e
                slow = False
                try:
                    for word in code.split():
                        k = word[0]
                        v = float(word[1:])
                        if not -LIMIT < v < LIMIT:
                            raise ValueError(word)
                        if k == "X":
                            nx = v if abs_xyz else x + v
                        elif k == "Y":
                            ny = v if abs_xyz else y + v
                        elif k == "Z":
                            nz = v if abs_xyz else z + v
                        elif k == "E":
                            ne = v if abs_e else e + v
                        elif k == "F":
                            if v > 0.0:
                                feed = v * fmul
                        elif k in "xyzef*":
                            slow = True
                            break
                except (ValueError, IndexError):
                    continue
                if not slow:
                    dx = nx - x
                    dy = ny - y
                    dz = nz - z
                    de = ne - e
                    x, y, z, e = nx, ny, nz, ne
                    if dx or dy or dz or de:
                        if comment:
                            kid = kind_ids.get(comment)
                            if kid is None:
                                kid = self.kind_id(comment)
                        else:
                            kid = kind
                        ext((dx, dy, dz, de * flow, feed, z, kid, tag))
                        if tag % 2.0:
                            tag -= 1.0
                        n += 1
                    continue
            elif line[0] == ";":
                if line.startswith(";TYPE:"):
                    kind = self.kind_id(line[6:].strip() or OTHER_KIND)
                elif line.startswith("; feature "):
                    kind = self.kind_id(line[10:].strip() or OTHER_KIND)
                elif line.startswith(";ESTIMATOR_ADD_TIME"):
                    self.n_moves, self.z, self.tag = n, z, tag
                    self._add_time(line)
                    tag = self.tag
                elif line.startswith(MARKER_PREFIXES):
                    self.markers.append((n, self.delay_total))
                continue
            # everything else: save the fast-path state, run the general parser, reload
            self.x, self.y, self.z, self.e = x, y, z, e
            self.feed, self.kind, self.tag, self.n_moves = feed, kind, tag, n
            if head == "M73" and is_marker_line(raw):  # as the rewrite will see it
                self.markers.append((n, self.delay_total))
            try:
                self._command(line)
            except (ValueError, IndexError, OverflowError, ZeroDivisionError):
                pass
            x, y, z, e = self.x, self.y, self.z, self.e
            abs_xyz, abs_e, units = self.abs_xyz, self.abs_e, self.units
            feed, fmul, flow = self.feed, self.feed_mult / 60.0, self.flow
            kind, tag, n = self.kind, self.tag, self.n_moves
        self.x, self.y, self.z, self.e = x, y, z, e
        self.feed, self.kind, self.tag, self.n_moves = feed, kind, tag, n
        self.lines += nlines

    # -- the general parser -----------------------------------------------------------------
