"""Serial-port transport over pyserial-asyncio-fast, plus listing of the ports on this machine."""

from __future__ import annotations

import asyncio
import glob
import os
from typing import Any

import serial_asyncio_fast
from serial.tools import list_ports

from moonlite.transport.lines import LineProtocol, LineTransport

#: where udev puts stable names for USB serial adapters
BY_ID_DIR = "/dev/serial/by-id"


class SerialTransport(LineTransport):
    """A serial device (`/dev/ttyUSB0`, `/dev/serial/by-id/...`, a pty) at a fixed baud rate."""

    def __init__(self, port: str, baudrate: int = 115200) -> None:
        super().__init__()
        self.port = port
        self.baudrate = baudrate
        self.name = port

    async def _connect(self) -> tuple[asyncio.BaseTransport, Any]:
        """Open the device (in a worker thread: opening may block) with a line protocol."""
        loop = asyncio.get_running_loop()
        return await serial_asyncio_fast.create_serial_connection(
            loop, LineProtocol, self.port, baudrate=self.baudrate, exclusive=True
        )


def list_serial_ports() -> list[str]:
    """Return the serial ports of this machine: stable `/dev/serial/by-id` names first.

    A by-id link and the device it points to are the same port, so only the by-id name is
    listed for it.
    """
    ports: list[str] = []
    seen_targets: set[str] = set()
    for link in sorted(glob.glob(os.path.join(BY_ID_DIR, "*"))):
        ports.append(link)
        seen_targets.add(os.path.realpath(link))
    for info in sorted(list_ports.comports(), key=lambda p: p.device):
        device = info.device
        if device not in seen_targets and os.path.realpath(device) not in seen_targets:
            ports.append(device)
    return ports
