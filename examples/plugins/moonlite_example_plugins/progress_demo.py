"""ProgressPlugin: print and slicing progress in whole-percent steps."""

from __future__ import annotations

from moonlite.plugins import ProgressPlugin


class ProgressDemo(ProgressPlugin):
    """Records every progress report."""

    def __init__(self) -> None:
        self.prints: list[tuple[str, str, int]] = []
        self.slicing: list[tuple[str, str, int]] = []

    def on_print_progress(self, storage: str, path: str, progress: int) -> None:
        """A print advanced by at least one percent."""
        self.prints.append((storage, path, progress))

    def on_slicing_progress(self, slicer: str, source_location: str, source_path: str,
                            destination_location: str, destination_path: str,
                            progress: int) -> None:
        """A slicing job advanced by at least one percent."""
        self.slicing.append((slicer, destination_path, progress))


__plugin_name__ = "Progress example"
__plugin_version__ = "1.0.0"
__plugin_implementation__ = ProgressDemo()
