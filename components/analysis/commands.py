"""The general G-code parser: every command the fast path of the scanner does not take."""

from __future__ import annotations

import math

from .scanstate import (
    DWELL_KIND,
    INDETERMINATE,
    INDETERMINATE_KIND,
    INDETERMINATE_TIME,
    LIMIT,
    MAX_ARC_SEGMENTS,
    OTHER_KIND,
    ScanState,
)


class Commands(ScanState):
    """Parses and applies one line at a time (state changes, limits, arcs, delays)."""

    def _add_time(self, line: str) -> None:
        parts = line.split(None, 2)
        if len(parts) >= 2:
            try:
                seconds = float(parts[1])
            except ValueError:
                return
            self.delay(seconds, parts[2].strip() if len(parts) > 2 else OTHER_KIND)

    def _command(self, line: str) -> None:
        code, _, comment = line.partition(";")
        code = code.partition("*")[0].strip()
        if not code:
            return
        words = code.split()
        if words[0][:1] in "Nn" and words[0][1:].isdigit():
            words = words[1:]
            if not words:
                return
        first = words[0]
        letter = first[:1].upper()
        if letter in "GMT" and len(first) > 1 and first[1:].replace(".", "", 1).isdigit():
            cmd = letter + first[1:]
            params = self._params(words[1:])
            self._traditional(cmd, params, comment.strip())
        elif letter in "GM" and len(first) > 1 and first[1].isdigit():
            # "G1X10Y5": split the packed words
            packed = self._unpack(code)
            if packed:
                self._traditional(packed[0], self._params(packed[1:]), comment.strip())
        else:
            self._extended(first.upper(), words[1:])

    @staticmethod
    def _unpack(code: str) -> list[str]:
        words: list[str] = []
        cur = ""
        for ch in code.replace(" ", ""):
            if ch.isalpha():
                if cur:
                    words.append(cur)
                cur = ch.upper()
            else:
                cur += ch
        if cur:
            words.append(cur)
        return words

    @staticmethod
    def _params(words: list[str]) -> dict[str, float]:
        params: dict[str, float] = {}
        for word in words:
            if not word:
                continue
            try:
                value = float(word[1:]) if len(word) > 1 else 0.0
            except ValueError:
                continue
            if -LIMIT < value < LIMIT:
                params[word[0].upper()] = value
        return params

    def _traditional(self, cmd: str, p: dict[str, float], comment: str) -> None:
        lim = self.limits
        if cmd in ("G0", "G1", "G00", "G01"):
            self._linear(p, comment)
        elif cmd in ("G2", "G3", "G02", "G03"):
            self._arc(p, comment, clockwise=cmd in ("G2", "G02"))
        elif cmd == "G92":
            u = self.units
            if not any(k in p for k in "XYZE"):
                return
            for axis in "XYZE":
                if axis in p:
                    setattr(self, axis.lower(), p[axis] * u)
        elif cmd == "G90":
            self.abs_xyz = True
            self.abs_e = self.m82_e
        elif cmd == "G91":
            self.abs_xyz = False
            self.abs_e = False
        elif cmd == "M82":
            self.m82_e = True
            self.abs_e = self.abs_xyz
        elif cmd == "M83":
            self.m82_e = False
            self.abs_e = False
        elif cmd == "G20":
            self.units = 25.4
        elif cmd == "G21":
            self.units = 1.0
        elif cmd in ("G17", "G18", "G19"):
            self.plane = int(cmd[1:])
        elif cmd in ("G4", "G04"):
            seconds = p["P"] / 1000.0 if "P" in p else p.get("S", 0.0)
            self.delay(seconds, DWELL_KIND)
        elif cmd in ("G10", "G11"):
            self._firmware_retract(cmd == "G10")
        elif cmd == "G28":
            self.delay(self._homing_time(p), INDETERMINATE_KIND, indeterminate=True)
        elif cmd in INDETERMINATE:
            self.delay(INDETERMINATE_TIME, INDETERMINATE_KIND, indeterminate=True)
        elif cmd == "M400":
            self.sync()
        elif cmd == "M220":
            if "S" in p and p["S"] > 0:
                self.feed_mult = p["S"] / 100.0
        elif cmd == "M221":
            if "S" in p and p["S"] > 0 and "T" not in p:
                self.flow = p["S"] / 100.0
        elif cmd == "M201":
            for i, axis in enumerate("XYZE"):
                if axis in p and p[axis] > 0:
                    lim.max_axis_accel[i] = p[axis]
            self.new_epoch()
        elif cmd == "M203":
            for i, axis in enumerate("XYZE"):
                if axis in p and p[axis] > 0:
                    lim.max_feedrate[i] = p[axis]
            self.new_epoch()
        elif cmd == "M204":
            self._m204(p)
        elif cmd == "M205":
            jerk = lim.jerk
            for i, axis in enumerate("XYZE"):
                if axis in p and p[axis] >= 0:
                    jerk[i] = p[axis]
            if "X" in p and "Y" not in p and p["X"] >= 0:
                jerk[1] = p["X"]
            if "J" in p and p["J"] > 0:
                lim.junction_deviation = p["J"]
            if "S" in p and p["S"] >= 0:
                lim.min_feedrate = p["S"]
            if "T" in p and p["T"] >= 0:
                lim.min_travel_feedrate = p["T"]
            self.new_epoch()

    def _homing_time(self, p: dict[str, float]) -> float:
        """Homing counts as an indeterminate wait; its length is guessed as a travel to 0."""
        axes = [a for a in "XYZ" if a in p] or ["X", "Y", "Z"]
        pos = {"X": self.x, "Y": self.y, "Z": self.z}
        dist = math.sqrt(sum(pos[a] ** 2 for a in axes))
        for axis in axes:
            setattr(self, axis.lower(), 0.0)
        lim = self.limits
        speed = self.feed
        accel = min(lim.travel_accel, lim.max_acceleration)
        for axis in axes:
            share = abs(pos[axis]) / dist if dist > 0.0 else 0.0
            i = "XYZ".index(axis)
            if share > 0.0:
                speed = min(speed, lim.max_feedrate[i] / share)
                accel = min(accel, lim.max_axis_accel[i] / share)
        if dist <= 0.0 or speed <= 0.0 or accel <= 0.0:
            return INDETERMINATE_TIME
        if dist > speed * speed / accel:
            moving = dist / speed + speed / accel
        else:
            moving = 2.0 * math.sqrt(dist / accel)
        return max(INDETERMINATE_TIME, moving)

    def _m204(self, p: dict[str, float]) -> None:
        lim = self.limits
        if lim.model == "square_corner":
            if "S" in p and p["S"] > 0:
                lim.set_accel(p["S"])
            elif "P" in p and "T" in p and min(p["P"], p["T"]) > 0:
                lim.set_accel(min(p["P"], p["T"]))
        else:
            if "S" in p and p["S"] > 0:
                lim.set_accel(p["S"])
            if "P" in p and p["P"] > 0:
                lim.print_accel = lim.max_acceleration = p["P"]
            if "T" in p and p["T"] > 0:
                lim.travel_accel = p["T"]
            if "R" in p and p["R"] > 0:
                lim.retract_accel = p["R"]
        self.new_epoch()

    def _target(self, p: dict[str, float]) -> tuple[float, float, float, float]:
        u = self.units
        rel = not self.abs_xyz
        nx = (self.x if rel else 0.0) + p["X"] * u if "X" in p else self.x
        ny = (self.y if rel else 0.0) + p["Y"] * u if "Y" in p else self.y
        nz = (self.z if rel else 0.0) + p["Z"] * u if "Z" in p else self.z
        ne = ((0.0 if self.abs_e else self.e) + p["E"] * u) if "E" in p else self.e
        if "F" in p and p["F"] > 0:
            self.feed = p["F"] * u * self.feed_mult / 60.0
        return nx, ny, nz, ne

    def _move_kind(self, comment: str) -> int:
        return self.kind_id(comment) if comment else self.kind

    def _linear(self, p: dict[str, float], comment: str) -> None:
        nx, ny, nz, ne = self._target(p)
        self.push_move(nx, ny, nz, ne, self._move_kind(comment))

    def _arc(self, p: dict[str, float], comment: str, clockwise: bool) -> None:
        x0, y0, z0, e0 = self.x, self.y, self.z, self.e
        nx, ny, nz, ne = self._target(p)
        kind = self._move_kind(comment)
        u = self.units
        if self.plane != 17 or not any(k in p for k in "IJR"):
            self.push_move(nx, ny, nz, ne, kind)
            return
        if "R" in p:
            r = p["R"] * u
            chord = math.hypot(nx - x0, ny - y0)
            if chord == 0.0 or abs(r) < chord / 2.0:
                self.push_move(nx, ny, nz, ne, kind)
                return
            h = math.sqrt(max(r * r - chord * chord / 4.0, 0.0))
            mx, my = (x0 + nx) / 2.0, (y0 + ny) / 2.0
            sign = -1.0 if (clockwise == (r > 0)) else 1.0
            cx = mx + sign * h * (y0 - ny) / chord
            cy = my + sign * h * (nx - x0) / chord
        else:
            cx, cy = x0 + p.get("I", 0.0) * u, y0 + p.get("J", 0.0) * u
        radius = math.hypot(x0 - cx, y0 - cy)
        a0 = math.atan2(y0 - cy, x0 - cx)
        a1 = math.atan2(ny - cy, nx - cx)
        sweep = a1 - a0
        if clockwise and sweep >= 0.0:
            sweep -= 2.0 * math.pi
        elif not clockwise and sweep <= 0.0:
            sweep += 2.0 * math.pi
        length = abs(sweep) * radius
        segments = int(min(max(1.0, length / self.limits.mm_per_arc_segment), MAX_ARC_SEGMENTS))
        for i in range(1, segments):
            f = i / segments
            ang = a0 + sweep * f
            self.push_move(
                cx + radius * math.cos(ang),
                cy + radius * math.sin(ang),
                z0 + (nz - z0) * f,
                e0 + (ne - e0) * f,
                kind,
            )
        self.push_move(nx, ny, nz, ne, kind)

    def _firmware_retract(self, retract: bool) -> None:
        if retract == self.retracted:
            return
        self.retracted = retract
        r = self.limits.retraction
        saved = self.feed
        if retract:
            self.feed = r.retract_speed
            self.push_move(self.x, self.y, self.z, self.e - r.retract_length,
                           self.kind_id("Firmware retract"))
            if r.lift_z:
                self.push_move(self.x, self.y, self.z + r.lift_z, self.e,
                               self.kind_id("Firmware retract Z hop"))
        else:
            if r.lift_z:
                self.push_move(self.x, self.y, self.z - r.lift_z, self.e,
                               self.kind_id("Firmware unretract Z hop"))
            self.feed = r.unretract_speed
            self.push_move(self.x, self.y, self.z,
                           self.e + r.retract_length + r.unretract_extra_length,
                           self.kind_id("Firmware unretract"))
        self.feed = saved

    def _extended(self, name: str, words: list[str]) -> None:
        args: dict[str, float] = {}
        for word in words:
            key, sep, value = word.partition("=")
            if sep:
                try:
                    num = float(value)
                except ValueError:
                    continue
                if -LIMIT < num < LIMIT:
                    args[key.upper()] = num
        lim = self.limits
        if name == "SET_VELOCITY_LIMIT":
            if args.get("VELOCITY", 0) > 0:
                lim.max_velocity = args["VELOCITY"]
            if args.get("ACCEL", 0) > 0:
                lim.set_accel(args["ACCEL"])
            if args.get("ACCEL_TO_DECEL", 0) > 0:
                lim.max_accel_to_decel = args["ACCEL_TO_DECEL"]
                lim.minimum_cruise_ratio = None
            if "MINIMUM_CRUISE_RATIO" in args:
                lim.minimum_cruise_ratio = min(max(args["MINIMUM_CRUISE_RATIO"], 0.0), 1.0)
            if args.get("SQUARE_CORNER_VELOCITY", -1) >= 0:
                lim.square_corner_velocity = args["SQUARE_CORNER_VELOCITY"]
            self.new_epoch()
        elif name == "SET_RETRACTION":
            fields = {
                "RETRACT_LENGTH": "retract_length",
                "RETRACT_SPEED": "retract_speed",
                "UNRETRACT_SPEED": "unretract_speed",
                "UNRETRACT_EXTRA_LENGTH": "unretract_extra_length",
                "LIFT_Z": "lift_z",
            }
            update = {fields[k]: v for k, v in args.items() if k in fields and v >= 0}
            if update.get("retract_speed", 1) > 0 and update.get("unretract_speed", 1) > 0:
                lim.retraction = lim.retraction.model_copy(update=update)
        elif name in ("TEMPERATURE_WAIT", "PAUSE"):
            self.delay(INDETERMINATE_TIME, INDETERMINATE_KIND, indeterminate=True)
