"""G-code metadata (slicer, times, filament, heights, thumbnails) from a file's head and tail."""

from .extract import extract_metadata, metadata_from_source, slicer_fields
from .identify import Slicer, identify
from .source import READ_SIZE, GcodeSource

__all__ = [
    "READ_SIZE",
    "GcodeSource",
    "Slicer",
    "extract_metadata",
    "identify",
    "metadata_from_source",
    "slicer_fields",
]
