"""Serial (over a real pty), TCP (127.0.0.1) transports and port/baud detection."""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import AsyncIterator

import pytest

from moonlite.transport import TransportClosed
from moonlite.transport.factory import DetectionFailed, detect, open_transport, probe
from moonlite.transport.serial import SerialTransport, list_serial_ports
from moonlite.transport.tcp import TcpTransport, parse_socket_url


class PtyPeer:
    """The far end of a pty: collects what the host wrote and can answer lines."""

    def __init__(self, answer: dict[bytes, bytes] | None = None) -> None:
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        self.path = os.ttyname(slave)
        self._slave = slave
        self.received: list[bytes] = []
        self.answer = answer or {}
        self.got_line = asyncio.Event()
        self._buf = b""
        os.set_blocking(self.master, False)
        asyncio.get_running_loop().add_reader(self.master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except OSError:
            return
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        for line in lines:
            self.received.append(line)
            self.got_line.set()
            reply = self.answer.get(line)
            if reply:
                os.write(self.master, reply)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
async def pty_peer() -> AsyncIterator[PtyPeer]:
    peer = PtyPeer({b"N0 M110 N0*125": b"ok\n"})
    yield peer
    peer.close()


async def test_serial_lines_over_pty(pty_peer: PtyPeer) -> None:
    link = SerialTransport(pty_peer.path, 250000)
    await link.open()
    assert link.is_open
    await link.write(b"N1 M115*39\n")
    await asyncio.wait_for(pty_peer.got_line.wait(), 5)
    assert pty_peer.received == [b"N1 M115*39"]
    # \r\n, bare \r, a line split over two writes and blank lines all come out as lines
    pty_peer.send(b"ok\r\nstart\recho:hel")
    pty_peer.send(b"lo\n\n\nok T:20.0 /0.0\n")
    got = [await asyncio.wait_for(link.readline(), 5) for _ in range(4)]
    assert got == [b"ok", b"start", b"echo:hello", b"ok T:20.0 /0.0"]
    await link.close()
    assert not link.is_open
    with pytest.raises(TransportClosed):
        await link.readline()
    await link.close()  # idempotent


async def test_serial_open_missing_device_raises() -> None:
    with pytest.raises(OSError):
        await SerialTransport("/dev/does-not-exist-moonlite", 115200).open()


async def test_tcp_lines_and_peer_close() -> None:
    received: list[bytes] = []
    peer_done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.readline())
        writer.write(b"start\nok\n")
        await writer.drain()
        writer.close()
        peer_done.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = open_transport(f"socket://127.0.0.1:{port}")
    assert isinstance(link, TcpTransport)
    await link.open()
    await link.write(b"N0 M110 N0*125\n")
    assert await asyncio.wait_for(link.readline(), 5) == b"start"
    assert await asyncio.wait_for(link.readline(), 5) == b"ok"
    await asyncio.wait_for(peer_done.wait(), 5)
    with pytest.raises(TransportClosed):
        await asyncio.wait_for(link.readline(), 5)
    assert received == [b"N0 M110 N0*125\n"]
    await link.close()
    server.close()
    await server.wait_closed()


def test_socket_url_parsing() -> None:
    assert parse_socket_url("socket://printer.local:23") == ("printer.local", 23)
    with pytest.raises(ValueError):
        parse_socket_url("socket://nohost")


async def test_probe_and_detect_over_pty(pty_peer: PtyPeer) -> None:
    assert await probe(SerialTransport(pty_peer.path, 115200), timeout=2)
    port, baud = await detect(["/dev/does-not-exist-moonlite", pty_peer.path], [115200, 250000])
    assert (port, baud) == (pty_peer.path, 115200)
    assert pty_peer.received.count(b"N0 M110 N0*125") == 2


async def test_detect_fails_when_nobody_answers() -> None:
    silent = PtyPeer()
    try:
        with pytest.raises(DetectionFailed):
            await detect([silent.path], [250000, 115200], timeout=0.2)
        # the hello was sent at both baud rates (and repeated while waiting)
        assert silent.received.count(b"N0 M110 N0*125") >= 2
    finally:
        silent.close()


def test_list_serial_ports_returns_device_paths() -> None:
    ports = list_serial_ports()
    assert all(p.startswith("/dev/") for p in ports)
    assert len(ports) == len(set(ports))


async def test_virtual_port_name_opens_the_in_process_printer() -> None:
    from moonlite.transport.factory import VIRTUAL, available_ports

    assert available_ports()[-1] == VIRTUAL and VIRTUAL not in available_ports(False)
    link = open_transport("virtual")
    assert link.name == VIRTUAL
    assert await probe(link, timeout=5)
    assert not link.is_open


async def test_link_gives_up_when_the_firmware_never_answers() -> None:
    from moonlite.components.printer.errors import CommunicationError
    from moonlite.components.printer.link_config import LinkConfig
    from moonlite.components.printer.protocol import MarlinProtocol
    from moonlite.components.printer.state import PrinterState

    silent = PtyPeer()
    link = MarlinProtocol(LinkConfig(timeout_connection=0.2, hello_attempts=2))
    states: list[PrinterState] = []
    link.listeners.state.append(lambda _old, new: states.append(new))
    try:
        with pytest.raises(CommunicationError, match="no answer"):
            await link.connect(SerialTransport(silent.path, 115200))
        assert states == [
            PrinterState.OPEN_SERIAL,
            PrinterState.CONNECTING,
            PrinterState.ERROR,
            PrinterState.CLOSED_WITH_ERROR,
        ]
        assert silent.received == [b"N0 M110 N0*125"] * 2
    finally:
        silent.close()
