"""Multi-line values (macros, hook commands) may contain blank lines, as in Klipper configs."""

from __future__ import annotations

from moonlite.config import Config

TEXT = """\
[server]
port: 7200

# a comment between options
host: 127.0.0.1

[gcode_macro PARK]
gcode:
  G91
  G1 Z10

  G90
  G1 X0 Y200
description: Park the head
"""


def test_blank_lines_inside_a_multi_line_value_are_kept() -> None:
    config = Config.from_string(TEXT)
    server = config.get("server")
    assert server is not None
    assert server.options == {"port": "7200", "host": "127.0.0.1"}
    macro = config.get("gcode_macro PARK")
    assert macro is not None
    assert macro.options["gcode"].splitlines() == ["G91", "G1 Z10", "", "G90", "G1 X0 Y200"]
    assert macro.options["description"] == "Park the head"
