"""systemd readiness and watchdog notification (sd_notify over $NOTIFY_SOCKET)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator


def sd_notify(state: str) -> bool:
    """Send `state` (e.g. "READY=1") to systemd; False when not running under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(state.encode())
        except OSError:
            return False
    return True


def watchdog_interval() -> float | None:
    """Half the watchdog timeout systemd asked for, in seconds, or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None


@contextlib.asynccontextmanager
async def watchdog() -> AsyncIterator[None]:
    """Ping the systemd watchdog while the event loop is alive (a stalled loop gets restarted)."""
    interval = watchdog_interval()
    task = None
    if interval:
        async def ping() -> None:
            while True:
                sd_notify("WATCHDOG=1")
                await asyncio.sleep(interval)

        task = asyncio.create_task(ping())
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
