"""Files: the gcodes/config/logs roots, uploads, slicer metadata and thumbnails."""
