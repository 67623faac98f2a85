"""moonlite: a print host for Marlin printers speaking Moonraker's and OctoPrint's APIs."""

__version__ = "0.1.0"
