"""Wire protocol over a real pty: banner, M110, checksums, resends, ok formats, M115."""

from __future__ import annotations

from conftest import Factory
from vp_host import SerialHost

from moonlite.virtual_printer import checksum


async def test_banner_on_connect(served: Factory) -> None:
    server, host = await served()
    banner = await host.handshake()
    assert banner[0] == "start"
    assert any(line.startswith("echo:Marlin 2.") for line in banner)
    assert server.printer.executed == ["M110 N0"]


async def test_numbered_lines_with_checksums(served: Factory) -> None:
    server, host = await served()
    await host.handshake()
    assert await host.command("G28") == ["ok N1 P15 B3"]
    assert await host.command("G90") == ["ok N2 P15 B3"]
    host.send_plain("M83")  # unnumbered lines are accepted unchecked
    assert await host.line() == "ok P15 B3"
    assert server.printer.executed == ["M110 N0", "G28", "G90", "M83"]
    assert server.printer.received[1:] == ["N1 G28*18", "N2 G90*18", "M83"]
    assert checksum(b"N1 G28") == 18


async def test_checksum_mismatch_requests_resend(served: Factory) -> None:
    server, host = await served()
    await host.handshake()
    await host.command("G90")
    host.write(b"N2 G28*99\n")
    assert await host.until("ok") == [
        "Error:checksum mismatch, Last Line: 1",
        "Resend: 2",
        "ok",
    ]
    host.line_number = 1
    assert await host.command("G28") == ["ok N2 P15 B3"]
    assert server.printer.executed == ["M110 N0", "G90", "G28"]


async def test_wrong_line_number(served: Factory) -> None:
    server, host = await served()
    await host.handshake()
    host.send("G90", 5)
    assert await host.until("ok") == [
        "Error:Line Number is not Last Line Number+1, Last Line: 0",
        "Resend: 1",
        "ok",
    ]
    host.write(b"N1 G90\n")
    assert await host.until("ok") == [
        "Error:No Checksum with line number, Last Line: 0",
        "Resend: 1",
        "ok",
    ]
    assert server.printer.executed == ["M110 N0"]


async def test_m110_sets_the_line_number(served: Factory) -> None:
    _server, host = await served()
    await host.handshake()
    host.send("M110 N41", 41)
    await host.until("ok")
    host.line_number = 41
    assert await host.command("M400") == ["ok N42 P15 B3"]


async def test_plain_ok_and_resend_without_ok(served: Factory) -> None:
    _server, host = await served(advanced_ok=False, ok_after_resend=False)
    await host.handshake()
    assert await host.command("G91") == ["ok"]
    host.write(b"N9 G90*0\n")
    assert await host.until("Resend") == [
        "Error:Line Number is not Last Line Number+1, Last Line: 1",
        "Resend: 2",
    ]
    assert await host.command("M105") == ["ok T:21.30 /0.00 B:21.30 /0.00 @:0 B@:0"]


async def test_m115_capabilities(served: Factory) -> None:
    _server, host = await served(tools=2)
    await host.handshake()
    lines = await host.command("M115")
    assert lines[0].startswith("FIRMWARE_NAME:Marlin 2.1")
    assert "EXTRUDER_COUNT:2" in lines[0]
    caps = dict(line[4:].rsplit(":", 1) for line in lines if line.startswith("Cap:"))
    for name in ("AUTOREPORT_TEMP", "AUTOREPORT_POS", "EMERGENCY_PARSER", "ARCS"):
        assert caps[name] == "1", name
    assert caps["SDCARD"] == "0"  # no card folder configured
    assert lines[-2].startswith("area:{full:{min:{x:0.00")
    assert lines[-1] == "ok N1 P15 B3"


async def test_unknown_command(served: Factory) -> None:
    _server, host = await served()
    await host.handshake()
    assert await host.command("M12345 X1") == ['echo:Unknown command: "M12345 X1"', "ok N1 P15 B3"]


async def test_duplicate_lines_ignored_by_newer_builds(served: Factory) -> None:
    server, host = await served(ignore_duplicate_lines=True)
    await host.handshake()
    await host.command("G90")
    host.send("G90", 1)  # already received: dropped silently, no ok
    assert await host.command("G91") == ["ok N2 P15 B3"]
    assert server.printer.executed == ["M110 N0", "G90", "G91"]
    assert server.printer.stats["duplicates_ignored"] == 1


async def test_wait_lines_when_idle(served: Factory) -> None:
    _server, host = await served(send_wait=True, interval_scale=0.02)
    await host.handshake()
    assert await host.until("wait") == ["wait"]
    assert await host.command("G90") == ["ok N1 P15 B3"]
    assert await host.line() == "wait"


async def test_without_emergency_parser_m108_waits_its_turn(served: Factory) -> None:
    server, host = await served(emergency_parser=False, time_scale=0.01, interval_scale=0.01)
    await host.handshake()
    caps = await host.command("M115")
    assert "Cap:EMERGENCY_PARSER:0" in caps
    host.send("M109 S60")
    host.send_plain("M108")  # only read once the wait is over: it cannot cut it short
    lines = await host.until("ok N2", timeout=10)
    assert any(line.endswith(" W:0") or line.endswith(" W:1") for line in lines)
    assert server.printer.hotends[0].actual >= 59.0
    assert server.printer.executed[-2:] == ["M109 S60", "M108"]


async def test_reopening_the_port_resets_the_board(served: Factory) -> None:
    server, host = await served()
    await host.handshake()
    await host.command("G91")
    # close and open again at once (the old fd is still open when the new one opens)
    await host.close()
    again = await SerialHost.open(server.path, 250000)
    try:
        assert (await again.handshake())[0] == "start"
        assert await again.command("G90") == ["ok N1 P15 B3"]
    finally:
        await again.close()
    assert server.printer.executed == ["M110 N0", "G91", "M110 N0", "G90"]
