"""Fuzz: random bytes and random G-code-like lines never raise out of the estimator."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moonlite.components.analysis.estimator import Estimator, estimate_file
from moonlite.components.analysis.limits import Limits, limits_from_config, parse_config
from moonlite.components.analysis.postprocess import process_file

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KLIPPER = limits_from_config(parse_config({"square_corner_velocity": 5,
                                           "max_accel_to_decel": 500}))

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**12, 10**12).map(str),
    st.sampled_from(["", "-", ".", "1e308", "-0", "nan", "inf", "1e-320", "0x10", "1_0"]),
)
words = st.tuples(st.sampled_from([*"XYZEFIJRPSTJ", "x", "e", "N", "*"]), numbers).map(
    "".join
)
commands = st.sampled_from(
    ["G0", "G1", "G2", "G3", "G4", "G10", "G11", "G17", "G18", "G20", "G21", "G28", "G90",
     "G91", "G92", "M82", "M83", "M109", "M201", "M203", "M204", "M205", "M220", "M221",
     "M400", "M600", "M73", "T0", "g1", "N10 G1", "G1X", "SET_VELOCITY_LIMIT",
     "SET_RETRACTION", ";TYPE:", ";ESTIMATOR_ADD_TIME", ";TIME_ELAPSED:", ""]
)
lines = st.tuples(commands, st.lists(words, max_size=6), st.sampled_from(["", " ; c", ";"])).map(
    lambda t: " ".join([t[0], *t[1]]) + t[2]
)


def check(result: dict[str, object]) -> None:
    total = result["total_time"]
    assert isinstance(total, float) and math.isfinite(total) and total >= 0
    json.dumps(result, allow_nan=False)  # every number is finite: valid JSON for clients


@FUZZ
@given(st.lists(lines, max_size=40), st.booleans())
def test_random_gcode_lines_never_raise(text: list[str], klipper: bool) -> None:
    est = Estimator(KLIPPER.copy() if klipper else Limits())
    est.feed_lines(text)
    check(est.finish().result)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "junk.gcode"
        path.write_bytes(data)
        check(estimate_file(path).result)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(lines, st.sampled_from(["M73 P0 R9", "M73 Q5 S1 ; x", "\r"])),
                max_size=30),
       st.sampled_from(["\n", "\r\n"]))
def test_process_keeps_every_other_line(text: list[str], newline: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.gcode"
        original = newline.join(text).encode("utf-8", "replace")
        path.write_bytes(original)
        process_file(path)
        after = path.read_bytes()
    before_lines = original.split(b"\n")
    if not before_lines[-1]:
        before_lines.pop()  # the file ended with a newline (or was empty)
    after_lines = after.split(b"\n")
    assert after_lines[len(before_lines)].startswith(b"; Processed by moonlite analysis")
    assert after_lines[len(before_lines) + 1 :] == [b""]
    for old, new in zip(before_lines, after_lines, strict=False):
        if not old.startswith((b"M73", b";TIME_ELAPSED:", b";REMAINING_TIME:")):
            assert old == new
