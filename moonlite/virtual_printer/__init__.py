"""A simulated Marlin 2.x firmware: the embedded default printer and the protocol test peer."""

from moonlite.virtual_printer.framing import checksum, frame
from moonlite.virtual_printer.options import VirtualPrinterOptions
from moonlite.virtual_printer.printer import VirtualPrinter
from moonlite.virtual_printer.pty import PtyServer, serve_pty

__all__ = ["PtyServer", "VirtualPrinter", "VirtualPrinterOptions", "checksum", "frame", "serve_pty"]
