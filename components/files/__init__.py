"""Files: the gcodes/config/logs roots, uploads, slicer metadata and thumbnails."""

from .api import FileManager

COMPONENT = FileManager

__all__ = ["COMPONENT", "FileManager"]
