"""The printer link: Marlin protocol engine, state machine and report parsing."""

from moonlite.components.printer.component import COMPONENT, PrinterComponent

__all__ = ["COMPONENT", "PrinterComponent"]
