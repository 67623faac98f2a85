"""`moonlite virtual-printer` as a real process: prints the pty path, serves, stops on SIGINT."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from vp_host import SerialHost

REPO = Path(__file__).resolve().parents[2]


async def test_cli_serves_a_pty(tmp_path: Path) -> None:
    link = tmp_path / "ttyVIRTUAL"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "moonlite", "virtual-printer", "--tools", "2",
        "-o", "advanced_ok=false", "--link", str(link),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert first.startswith("virtual printer listening on /dev/pts/")
        assert f"(also as {link})" in first
        slave = first.split()[4]
        host = await SerialHost.open(slave)
        try:
            await host.handshake()
            lines = await host.command("M115")
            assert "EXTRUDER_COUNT:2" in lines[0]
            assert lines[-1] == "ok"  # advanced_ok=false from -o
        finally:
            await host.close()
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    assert not link.exists()


async def test_cli_rejects_bad_options() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "moonlite", "virtual-printer", "-o", "no_such_option=1",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert b"no_such_option" in err
