"""Thumbnails embedded as base64 `; thumbnail[_PNG|_JPG|_QOI] begin WxH len` comment blocks."""

from __future__ import annotations

import base64
import binascii
import io
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from .source import THUMBNAIL_BEGIN

log = logging.getLogger(__name__)

_BLOCK_INFO = re.compile(rb"[ \t]+(\d+)x(\d+)[ \t]+(\d+)")
# the formats Moonraker serves; QOI is converted because browsers cannot show it
_EXTENSIONS = {b"": "png", b"png": "png", b"jpg": "jpg", b"qoi": "png"}
MINIATURE = 32  # frontends' file-list icons


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then rename."""
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, 0o644)  # mkstemp makes it private; thumbnails are served to anyone
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _convert_to_png(data: bytes) -> bytes:
    from PIL import Image  # lazy: costs ~50 ms to import and most files never need it

    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()


def _miniature(source_path: Path) -> tuple[bytes, int, int]:
    from PIL import Image

    with Image.open(source_path) as image:
        image.thumbnail((MINIATURE, MINIATURE))
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue(), image.width, image.height


def embedded_thumbnails(text: bytes) -> list[tuple[str, int, int, bytes]]:
    """Decoded (extension, width, height, image bytes) of every well-formed block in `text`.

    Blocks whose base64 length differs from the length they declare are skipped.
    """
    found: list[tuple[str, int, int, bytes]] = []
    start = text.find(b"; thumbnail")
    if start < 0:
        return found
    position = start
    while begin := THUMBNAIL_BEGIN.search(text, position):
        kind = begin.group(1)
        end = text.find(b"; " + kind + b" end", begin.end())
        if end < 0:
            break
        position = end
        info = _BLOCK_INFO.match(text, begin.end())
        extension = _EXTENSIONS.get(kind.partition(b"_")[2].lower())
        if info is None or extension is None:
            continue
        width, height, length = (int(x) for x in info.groups())
        payload = text[info.end() : end].translate(None, b"; \t\r\n")
        if len(payload) != length:
            log.info("thumbnail %dx%d: length %d, declared %d", width, height, len(payload),
                     length)
            continue
        try:
            image = base64.b64decode(payload)
        except (binascii.Error, ValueError):
            continue
        if kind.lower().endswith(b"_qoi"):
            try:
                image = _convert_to_png(image)
            except Exception:  # Pillow raises many kinds on corrupt data
                log.info("thumbnail %dx%d: cannot convert QOI", width, height)
                continue
        found.append((extension, width, height, image))
    return found


def extract_thumbnails(text: bytes, stem: str, thumbs_dir: Path) -> list[dict[str, Any]]:
    """Write the embedded thumbnails as `<thumbs_dir>/<stem>-WxH.<ext>`; Moonraker's entries.

    When the file has no 32x32 image but a larger one, a PNG miniature (32 pixels on its
    longer side, aspect ratio kept) is made from the largest and listed first, as
    `<stem>-32x32.png` like Moonraker names it.
    """
    images = embedded_thumbnails(text)
    if not images:
        return []
    if thumbs_dir.is_symlink():
        # whatever it points at may lie outside the root: never write through it
        log.warning("not writing thumbnails through the symlink %s", thumbs_dir)
        return []
    thumbs_dir.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    written: set[str] = set()
    for extension, width, height, image in images:
        name = f"{stem}-{width}x{height}.{extension}"
        if name in written:
            continue
        write_atomically(thumbs_dir / name, image)
        written.add(name)
        entries.append(
            {
                "width": width,
                "height": height,
                "size": len(image),
                "relative_path": f"{thumbs_dir.name}/{name}",
            }
        )
    has_miniature = any(e["width"] == MINIATURE and e["height"] == MINIATURE for e in entries)
    largest = max(entries, key=lambda e: e["width"] * e["height"])
    if not has_miniature and max(largest["width"], largest["height"]) > MINIATURE:
        name = f"{stem}-{MINIATURE}x{MINIATURE}.png"
        try:
            image, width, height = _miniature(thumbs_dir / largest["relative_path"].split("/")[-1])
        except Exception:  # a corrupt image: keep the others
            log.info("cannot make a miniature from %s", largest["relative_path"])
            return entries
        write_atomically(thumbs_dir / name, image)
        entries.insert(
            0,
            {
                "width": width,
                "height": height,
                "size": len(image),
                "relative_path": f"{thumbs_dir.name}/{name}",
            },
        )
    return entries
