"""Async line transports to the printer: serial, TCP and the in-process virtual printer."""

from moonlite.transport.base import Transport, TransportClosed

__all__ = ["Transport", "TransportClosed"]
