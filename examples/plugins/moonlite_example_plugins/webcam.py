"""WebcamProviderPlugin: a webcam listed in server.webcams.list, with snapshots."""

from __future__ import annotations

from collections.abc import Iterator

from moonlite.plugins import Webcam, WebcamProviderPlugin

#: the smallest JPEG-looking payload (start and end of image markers)
FAKE_JPEG = b"\xff\xd8\xff\xe0" + b"moonlite example" + b"\xff\xd9"


class WebcamDemo(WebcamProviderPlugin):
    """One webcam; the snapshot comes in chunks (an iterator is fine, so are bytes)."""

    def get_webcam_configurations(self) -> list[Webcam]:
        """The webcams this plugin provides."""
        return [Webcam(name="example_cam", display_name="Example camera",
                       stream_url="http://camera.invalid/stream", can_snapshot=True,
                       flip_h=True)]

    def take_webcam_snapshot(self, webcam: str) -> Iterator[bytes]:
        """A JPEG of `webcam`."""
        if webcam != "example_cam":
            raise KeyError(f"no webcam {webcam}")
        yield FAKE_JPEG[:4]
        yield FAKE_JPEG[4:]


__plugin_name__ = "Webcam example"
__plugin_version__ = "1.0.0"
__plugin_implementation__ = WebcamDemo()
