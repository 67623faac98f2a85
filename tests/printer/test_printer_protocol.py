"""The Marlin protocol engine against the virtual printer over a real pty."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import watchfiles
from moonlite.components.printer.errors import (
    CommandError,
    FirmwareError,
    FirmwareReset,
    LinkLost,
)
from moonlite.components.printer.framing import frame
from moonlite.components.printer.state import PrinterState as S
from printer_rig import PROBES, RigFactory, without_fragments

from moonlite.testing import gcode_command_lines
from moonlite.transport.serial import SerialTransport

HANDSHAKE = ["M110 N0", "M115", "M155 S2", "M154 S5"]


async def test_handshake_and_capabilities(pty_rig: RigFactory) -> None:
    rig = await pty_rig()
    link, printer = rig.link, rig.printer
    assert link.state is S.OPERATIONAL
    assert link.firmware.name.startswith("Marlin 2.1.2.4")
    assert link.firmware.has("AUTOREPORT_TEMP") and link.firmware.has("EMERGENCY_PARSER")
    assert not link.firmware.has("SDCARD")
    assert link.firmware.advanced_ok and link.firmware.buffer_size == 4
    # the hello may be repeated once when the board's `start` arrives after it
    executed = [c for c in printer.executed if c != "M110 N0"]
    assert executed == ["M115", "M155 S2", "M154 S5"]
    assert printer.received[-3:] == ["N1 M115*39", "N2 M155 S2*97", "N3 M154 S5*102"]
    assert link.machine.get_state_string() == "Operational"


async def test_commands_resolve_with_their_response(pty_rig: RigFactory) -> None:
    rig = await pty_rig()
    position = await rig.link.send("M114")
    assert position[0].startswith("X:0.00 Y:0.00 Z:0.00")
    temps = await rig.link.send("M105")
    assert temps[0].startswith("ok T:21.30 /0.00 B:21.30 /0.00")
    with pytest.raises(CommandError, match='Unknown command: "G999"'):
        await rig.link.send("G999")
    # a failed command does not disturb the ones after it
    assert await rig.link.run_script("G28\nG1 X10 Y10 F3000 ; comment\n\nM400") == []
    assert rig.printer.executed[-5:] == ["M105", "G999", "G28", "G1 X10 Y10 F3000", "M400"]


async def test_temperature_and_position_autoreport(pty_rig: RigFactory) -> None:
    rig = await pty_rig(interval_scale=0.02, tools=2, chamber=True)
    await rig.link.run_script(["M104 T1 S50", "M140 S40"])
    rec = rig.rec
    await rec.wait_for(lambda: any(t.get("T1", (0, 0))[1] == 50.0 for t in rec.temperatures))
    last = rec.temperatures[-1]
    assert set(last) >= {"T0", "T1", "B", "C"} and last["B"][1] == 40.0
    await rig.link.send("G1 X12 Y7 F6000")
    await rec.wait_for(lambda: any(p["x"] == 12.0 and p["y"] == 7.0 for p in rec.positions))
    # the autoreports are lines, never mistaken for acknowledgements
    assert rig.link.inflight == 0


@pytest.mark.parametrize(
    ("advanced_ok", "ok_after_resend", "ignore_duplicates"),
    [(True, True, False), (True, False, True), (False, True, False), (False, False, True)],
)
async def test_resends_under_corruption(
    pty_rig: RigFactory,
    gcode_dir: Path,
    advanced_ok: bool,
    ok_after_resend: bool,
    ignore_duplicates: bool,
) -> None:
    rig = await pty_rig(
        advanced_ok=advanced_ok,
        ok_after_resend=ok_after_resend,
        ignore_duplicate_lines=ignore_duplicates,
        corrupt_rate=0.05,
        seed=3,
    )
    expected = gcode_command_lines(gcode_dir / "hexnut_marlin2.gcode", 400)
    job, executed = await rig.stream_to_end(expected)
    assert rig.printer.stats["corrupted"] > 5
    executed, fragments = without_fragments(executed)
    assert executed == expected
    assert fragments <= rig.printer.stats["line_errors"]
    assert job.sent == job.acked == len(expected)
    assert rig.link.state is S.OPERATIONAL
    assert rig.rec.states[-3:] == [S.PRINTING, S.FINISHING, S.OPERATIONAL]
    assert rig.link.firmware.ok_after_resend is (None if advanced_ok else ok_after_resend)


@pytest.mark.parametrize("advanced_ok", [True, False])
async def test_lost_oks(pty_rig: RigFactory, gcode_dir: Path, advanced_ok: bool) -> None:
    rig = await pty_rig(
        {"timeout_communication": 0.15, "timeout_communication_busy": 0.15},
        advanced_ok=advanced_ok,
        drop_ok_rate=0.04,
        seed=5,
    )
    expected = gcode_command_lines(gcode_dir / "hexnut_marlin2.gcode", 150)
    _job, executed = await rig.stream_to_end(expected)
    assert rig.printer.stats["dropped_oks"] >= 3
    # the timeout probes are extra; every job line ran once, in order
    assert [c for c in executed if c not in PROBES] == expected
    assert rig.link.state is S.OPERATIONAL


async def test_busy_protocol(pty_rig: RigFactory, gcode_dir: Path) -> None:
    rig = await pty_rig(busy_storm_rate=0.1, busy_storm_duration=0.1, seed=2)
    expected = gcode_command_lines(gcode_dir / "hexnut_marlin2.gcode", 80)
    _job, executed = await rig.stream_to_end(expected)
    assert rig.link.firmware.busy_protocol
    assert rig.printer.stats["busy_storms"] > 3
    # the keepalive interval is set once, when the first busy line is seen
    assert rig.printer.executed.count("M113 S1") == 1  # busy timeout 1 s -> interval 1 s
    assert [c for c in executed if c != "M113 S1"] == expected


async def test_firmware_reset_mid_stream_fails_the_job(
    pty_rig: RigFactory, gcode_dir: Path
) -> None:
    rig = await pty_rig(reset_at_line=40)
    expected = gcode_command_lines(gcode_dir / "hexnut_marlin2.gcode", 200)
    start = len(rig.printer.executed)
    job = rig.link.start_stream(expected)
    with pytest.raises(FirmwareReset):
        await asyncio.wait_for(job.done, 30)
    await rig.rec.wait_for(lambda: rig.link.state is S.OPERATIONAL)
    assert rig.rec.resets == 1
    assert rig.rec.states[-3:] == [S.PRINTING, S.CONNECTING, S.OPERATIONAL]
    executed = rig.printer.executed[start:]
    cut = executed.index("M110 N0")
    # the lines before the reset ran in order (the reset lost line 40 and anything queued)
    assert executed[:cut] == expected[:cut] and cut < 40
    assert [c for c in executed[cut:] if c != "M110 N0"] == ["M115", "M155 S2", "M154 S5"]
    assert await rig.link.send("M105")  # and the link works again


async def test_kill_error_is_fatal(pty_rig: RigFactory, gcode_dir: Path) -> None:
    rig = await pty_rig(kill_at_line=30)
    job = rig.link.start_stream(gcode_command_lines(gcode_dir / "hexnut_marlin2.gcode", 100))
    with pytest.raises(FirmwareError, match="Thermal Runaway"):
        await asyncio.wait_for(job.done, 30)
    await rig.rec.wait_for(lambda: rig.link.state is S.CLOSED_WITH_ERROR)
    assert rig.rec.states[-2:] == [S.ERROR, S.CLOSED_WITH_ERROR]
    message, fatal = rig.rec.errors[-1]
    assert fatal and "Thermal Runaway" in message and "kill() called" in message
    assert rig.link.error == message
    assert rig.printer.killed
    with pytest.raises(Exception, match="not connected"):
        await rig.link.send("M105")


async def test_emergency_stop_m112(pty_rig: RigFactory) -> None:
    rig = await pty_rig()
    pending = rig.link.send("G4 S60")  # would keep the queue busy for a minute
    await rig.link.send_emergency("M112")
    with pytest.raises(FirmwareError):
        await asyncio.wait_for(pending, 5)
    assert rig.link.state is S.CLOSED_WITH_ERROR
    assert rig.printer.killed  # the emergency parser acted on it past the queue


async def test_m108_cancels_a_heating_wait(pty_rig: RigFactory) -> None:
    rig = await pty_rig(time_scale=1.0)  # real time: M109 S200 would take a minute
    heating = rig.link.send("M109 S200")
    await rig.rec.wait_for(lambda: "M109 S200" in rig.printer.executed)
    await rig.link.send_emergency("M108")
    await asyncio.wait_for(heating, 5)
    # the M108 was also queued by the firmware and acknowledged: accounting stays right
    assert await asyncio.wait_for(rig.link.send("M105"), 5)
    assert rig.link.inflight == 0


async def test_action_commands_reach_listeners(pty_rig: RigFactory) -> None:
    rig = await pty_rig()
    rig.printer.action("pause")
    rig.printer.action("prompt_begin", "Filament", "runout")
    await rig.rec.wait_for(lambda: len(rig.rec.actions) == 2)
    assert rig.rec.actions == [("pause", ""), ("prompt_begin", "Filament runout")]
    assert "//action:pause" in rig.rec.lines


async def test_disconnect_and_reconnect(pty_rig: RigFactory, gcode_dir: Path) -> None:
    rig = await pty_rig(disconnect_at_line=20)
    job = rig.link.start_stream(gcode_command_lines(gcode_dir / "hexnut_marlin2.gcode", 100))
    with pytest.raises(LinkLost):
        await asyncio.wait_for(job.done, 30)
    await rig.rec.wait_for(lambda: rig.link.state is S.CLOSED_WITH_ERROR)
    assert rig.rec.errors[-1][1] is True

    # the board re-enumerates: a new pty appears behind the stable symlink (inotify tells us)
    link_dir = Path(rig.server.path).parent

    async def reopened() -> None:
        async for _changes in watchfiles.awatch(link_dir, yield_on_timeout=True, rust_timeout=100):
            if rig.server.ptys_opened >= 2:
                return

    await asyncio.wait_for(reopened(), 5)
    await asyncio.wait_for(rig.link.connect(SerialTransport(rig.server.path, 250000)), 10)
    assert rig.link.state is S.OPERATIONAL and rig.link.error is None
    assert (await rig.link.send("M114"))[0].startswith("X:")
    await rig.link.disconnect()
    assert rig.link.state is S.CLOSED


async def test_pause_resume_cancel(pty_rig: RigFactory, gcode_dir: Path) -> None:
    rig = await pty_rig(time_scale=0.002)
    expected = gcode_command_lines(gcode_dir / "hexnut_marlin2.gcode", 3000)
    start = len(rig.printer.executed)
    job = rig.link.start_stream(expected)
    await rig.rec.wait_for(lambda: job.acked >= 50)
    await job.pause(["M114"])
    assert rig.link.state is S.PAUSED and rig.link.inflight == 0
    paused_at = job.sent
    executed = rig.printer.executed[start:]
    assert executed == [*expected[:paused_at], "M114"]
    await job.resume(["G4 P0"])
    assert rig.link.state is S.PRINTING
    await rig.rec.wait_for(lambda: job.sent >= paused_at + 50)
    await job.cancel(["M104 S0"])
    assert await job.done == "cancelled"
    assert rig.link.state is S.OPERATIONAL
    executed = rig.printer.executed[start:]
    assert executed == [
        *expected[:paused_at], "M114", "G4 P0", *expected[paused_at : job.sent], "M104 S0"
    ]
    assert rig.rec.states[-7:] == [
        S.PRINTING, S.PAUSING, S.PAUSED, S.RESUMING, S.PRINTING, S.CANCELLING, S.OPERATIONAL
    ]  # fmt: skip


async def test_too_many_timeouts_close_the_link(pty_rig: RigFactory) -> None:
    rig = await pty_rig(
        {"timeout_communication": 0.1, "timeout_communication_busy": 0.1, "max_timeouts_idle": 2}
    )
    rig.printer.options.drop_ok_rate = 1.0  # the firmware stops acknowledging anything
    pending = rig.link.send("G1 X5")
    with pytest.raises(Exception, match="Too many consecutive timeouts"):
        await asyncio.wait_for(pending, 10)
    await rig.rec.wait_for(lambda: rig.link.state is S.CLOSED_WITH_ERROR)
    assert "Too many consecutive timeouts" in (rig.link.error or "")
    # each timeout sent a probe: the firmware got them, and never answered
    assert rig.printer.executed[-3:] == ["G1 X5", "M114", "M114"]


async def test_idle_wait_lines_are_not_oks(pty_rig: RigFactory) -> None:
    rig = await pty_rig(send_wait=True, interval_scale=0.01)
    await rig.rec.wait_for(lambda: rig.rec.lines.count("wait") >= 3)
    assert (await rig.link.send("M114"))[0].startswith("X:")
    assert rig.link.inflight == 0 and rig.link.state is S.OPERATIONAL


async def test_checksums_only_while_printing(pty_rig: RigFactory) -> None:
    rig = await pty_rig({"checksum": "printing"})
    await rig.link.send("M105")
    assert rig.printer.received[-1] == "M105"  # plain once the firmware is known
    job = rig.link.start_stream(["G28", "G1 X1"])
    assert await asyncio.wait_for(job.done, 10) == "done"
    assert [r.split(" ", 1)[1].split("*")[0] for r in rig.printer.received[-2:]] == [
        "G28", "G1 X1"
    ]
    assert all(r.startswith("N") for r in rig.printer.received[-2:])


async def test_user_m110_renumbers(pty_rig: RigFactory) -> None:
    rig = await pty_rig()
    await rig.link.send("M110 N100")
    await rig.link.send("M105")
    assert rig.printer.received[-2:] == [
        frame(100, "M110 N100").decode().strip(),
        frame(101, "M105").decode().strip(),
    ]


async def test_error_without_disconnect_fails_only_the_job(
    pty_rig: RigFactory, gcode_dir: Path
) -> None:
    rig = await pty_rig({"disconnect_on_errors": False}, time_scale=0.002)
    job = rig.link.start_stream(gcode_command_lines(gcode_dir / "hexnut_marlin2.gcode", 3000))
    await rig.rec.wait_for(lambda: job.acked >= 20)
    rig.printer.emit("Error:Probing failed")
    with pytest.raises(FirmwareError, match="Probing failed"):
        await asyncio.wait_for(job.done, 10)
    assert rig.link.state is S.OPERATIONAL
    assert rig.rec.errors[-1] == ("Probing failed", False)
    assert (await rig.link.send("M114"))[0].startswith("X:")


async def test_sd_card_reports(pty_rig: RigFactory, gcode_dir: Path, tmp_path: Path) -> None:
    card = tmp_path / "card"
    card.mkdir()
    moves = [f"G1 X{100 * (i % 2)} F6000" for i in range(40)]  # 40 x 1 s of simulated moves
    (card / "cube.gco").write_text("\n".join(["G28", *moves]) + "\n")
    rig = await pty_rig(sd_dir=card, interval_scale=0.05, time_scale=0.01)
    assert rig.link.firmware.has("AUTOREPORT_SD_STATUS")
    assert "M27 S1" in rig.printer.executed  # SD status autoreport set up by the handshake
    events: list[tuple[str, dict[str, object]]] = []
    rig.link.listeners.sd.append(lambda event, data: events.append((event, data)))
    await rig.link.send("M23 cube.gco")
    size = (card / "cube.gco").stat().st_size
    opened = ("file_opened", {"name": "cube.gco", "size": size})
    assert events[:2] == [opened, ("file_selected", {})]
    await rig.link.send("M24")
    await rig.rec.wait_for(lambda: any(e == "done" for e, _ in events))
    assert any(e == "progress" and d["size"] == size for e, d in events)
    # the card's lines ran after M24 (the last ones may still be in the buffer at "Done")
    after = rig.printer.executed[rig.printer.executed.index("M24") + 1 :]
    ran = [c for c in after if not c.startswith("M113")]  # (set when busy: is first seen)
    assert len(ran) > 30 and ran == ["G28", *moves][: len(ran)]
