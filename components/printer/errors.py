"""Exceptions raised by the printer link to callers awaiting commands and jobs."""

from __future__ import annotations


class PrinterLinkError(Exception):
    """Base class: something went wrong between the host and the printer."""


class NotConnected(PrinterLinkError):
    """The link is not connected (or not yet operational)."""


class LinkLost(PrinterLinkError):
    """The connection went away or was closed while the command or job was pending."""


class QueueFull(PrinterLinkError):
    """Too many commands already wait for the wire (`LinkConfig.max_queued_commands`)."""


class CommandError(PrinterLinkError):
    """The firmware answered the command with an error (e.g. unknown command, SD trouble)."""

    def __init__(self, message: str, command: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.command = command


class FirmwareError(PrinterLinkError):
    """A fatal firmware error (kill, thermal runaway, …) or an emergency stop: the link stopped."""


class FirmwareReset(PrinterLinkError):
    """The firmware restarted (`start`) and lost every queued command and the job."""


class CommunicationError(PrinterLinkError):
    """The link gave up: too many timeouts, a resend loop, or no history for a resend."""
