"""Open a transport from a port string, and find a printer's port and baud rate by probing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from moonlite.transport.base import Transport, TransportClosed
from moonlite.transport.serial import SerialTransport, list_serial_ports
from moonlite.transport.tcp import SCHEME as SOCKET_SCHEME
from moonlite.transport.tcp import TcpTransport

log = logging.getLogger(__name__)

#: OctoPrint's candidate list, fastest first (250000 is Marlin's usual default)
BAUDRATES: tuple[int, ...] = (250000, 230400, 115200, 57600, 38400, 19200, 9600)
#: the connection hello: `M110` with prefix = parameter, so every Marlin agrees on the number
HELLO = b"N0 M110 N0*125\n"

#: factories for port names that are not devices: upper-cased name -> factory
_NAMED_PORTS: dict[str, Callable[[int], Transport]] = {}


class DetectionFailed(OSError):
    """No candidate port/baud rate answered the probe."""


def _virtual_printer(_baudrate: int) -> Transport:
    """The built-in virtual Marlin printer, in-process (imported only when used)."""
    from moonlite.transport.virtual import VirtualTransport

    return VirtualTransport()


#: the port name of the built-in virtual printer
VIRTUAL = "VIRTUAL"
_NAMED_PORTS[VIRTUAL] = _virtual_printer


def available_ports(include_virtual: bool = True) -> list[str]:
    """Serial ports of this machine (stable by-id names first), then `VIRTUAL`."""
    ports = list_serial_ports()
    return [*ports, VIRTUAL] if include_virtual else ports


def register_port(name: str, factory: Callable[[int], Transport]) -> None:
    """Make `open_transport(name)` build a transport with `factory(baudrate)` (e.g. VIRTUAL)."""
    _NAMED_PORTS[name.upper()] = factory


def open_transport(port: str, baudrate: int = 115200) -> Transport:
    """Build (not open) the transport for `port`: `socket://host:port`, a named port, a device."""
    if port.startswith(SOCKET_SCHEME):
        return TcpTransport(port)
    factory = _NAMED_PORTS.get(port.upper())
    if factory is not None:
        return factory(baudrate)
    return SerialTransport(port, baudrate)


async def probe(transport: Transport, timeout: float = 2.0, retry: float = 0.5) -> bool:
    """Open `transport`, send the hello, and say whether the firmware answered.

    A live Marlin answers the hello with `ok`; a board that resets on open prints `start`
    first (the hello may have been lost during boot, so it is repeated every `retry` seconds).
    The transport is closed again before returning.
    """
    try:
        await transport.open()
    except OSError as exc:
        log.debug("probe: cannot open %s: %s", transport.name, exc)
        return False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while (now := loop.time()) < deadline:
            await transport.write(HELLO)
            wait_until = min(deadline, now + retry)
            while (left := wait_until - loop.time()) > 0:
                try:
                    line = await asyncio.wait_for(transport.readline(), left)
                except TimeoutError:
                    break
                text = line.strip()
                if text.startswith(b"ok") or text == b"start":
                    return True
        return False
    except (TransportClosed, OSError) as exc:
        log.debug("probe: %s failed: %s", transport.name, exc)
        return False
    finally:
        with contextlib.suppress(OSError):
            await transport.close()


async def detect(
    ports: Sequence[str] | None = None,
    baudrates: Sequence[int] | None = None,
    timeout: float = 2.0,
) -> tuple[str, int]:
    """Return the first (port, baudrate) whose firmware answers the `M110` hello.

    Candidates are every port (default: `list_serial_ports()`) at every baud rate (default:
    `BAUDRATES`); TCP and named ports are probed once (their baud rate does not matter).
    """
    # listing reads sysfs and /dev: a worker thread keeps it off the event loop
    candidates = list(ports) if ports is not None else await asyncio.to_thread(list_serial_ports)
    rates = list(baudrates) if baudrates else list(BAUDRATES)
    for port in candidates:
        is_device = not port.startswith(SOCKET_SCHEME) and port.upper() not in _NAMED_PORTS
        for baudrate in rates if is_device else rates[:1]:
            if await probe(open_transport(port, baudrate), timeout):
                log.info("detected printer on %s at %d baud", port, baudrate)
                return port, baudrate
    raise DetectionFailed(f"no printer answered on {candidates} at {rates}")
