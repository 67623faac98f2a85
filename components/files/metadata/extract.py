"""`extract_metadata`: one file's Moonraker metadata fields, read from its head and tail."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .bambu import parse_bambu
from .cura import parse_cura
from .generic import parse_generic
from .icesl import parse_icesl
from .ideamaker import parse_ideamaker
from .identify import UNKNOWN, Slicer, identify
from .kirimoto import parse_kirimoto
from .kisslicer import parse_kisslicer
from .prusa import parse_prusa
from .simplify3d import parse_simplify3d
from .source import GcodeSource
from .thumbnails import extract_thumbnails

log = logging.getLogger(__name__)

Fields = dict[str, Any]

# one parser per slicer family (see identify.py for how a family is recognised)
PARSERS: dict[str, Callable[[GcodeSource, Slicer], Fields]] = {
    "prusa": lambda source, slicer: parse_prusa(source, "prusa"),
    "slic3r_pe": lambda source, slicer: parse_prusa(source, "slic3r_pe"),
    "slic3r": lambda source, slicer: parse_prusa(source, "slic3r"),
    "bambu": lambda source, slicer: parse_bambu(source),
    "cura": lambda source, slicer: parse_cura(source),
    "simplify3d": lambda source, slicer: parse_simplify3d(source, slicer.version),
    "kisslicer": lambda source, slicer: parse_kisslicer(source),
    "ideamaker": lambda source, slicer: parse_ideamaker(source),
    "icesl": lambda source, slicer: parse_icesl(source),
    "kirimoto": lambda source, slicer: parse_kirimoto(source),
    "generic": lambda source, slicer: parse_generic(source),
}


def extract_metadata(path: Path, thumbs_dir: Path | None) -> dict[str, Any]:
    """Moonraker's metadata fields for the G-code file at `path` (synchronous; run it off loop).

    Always present: `size`, `modified`, `uuid`, `file_processors`, `slicer`, `slicer_version`;
    every other field only when the file provides it (None values are left out). `filename`
    is NOT set here: the caller adds the path relative to its root. Thumbnails are written
    into `thumbs_dir` (created when needed) as `<stem>-WxH.png` and reported with
    `relative_path` `"<thumbs_dir name>/<stem>-WxH.png"` (relative to the G-code's folder when
    `thumbs_dir` is its `.thumbs`); with `thumbs_dir=None` nothing is written and the
    `thumbnails` field is left out. Unreadable or garbage content never raises: the basic
    fields are returned (an OSError from stat() of a missing file does propagate).
    """
    stat = os.stat(path)
    metadata: dict[str, Any] = {
        "size": stat.st_size,
        "modified": stat.st_mtime,
        "uuid": str(uuid.uuid4()),
        "file_processors": [],
        "slicer": UNKNOWN.name,
        "slicer_version": UNKNOWN.version,
    }
    try:
        source = GcodeSource.read(path)
    except OSError as error:
        log.info("cannot read %s: %s", path, error)
        return metadata
    metadata.update(metadata_from_source(source, path.stem, thumbs_dir))
    return metadata


def slicer_fields(source: GcodeSource) -> dict[str, Any]:
    """The slicer, its version, start/end bytes and the slicer's own fields (may hold None)."""
    slicer = identify(source)
    fields: dict[str, Any] = {
        "slicer": slicer.name,
        "slicer_version": slicer.version,
        "gcode_start_byte": source.gcode_start_byte,
        "gcode_end_byte": source.gcode_end_byte,
    }
    fields.update(PARSERS[slicer.family](source, slicer))
    return fields


def metadata_from_source(
    source: GcodeSource, stem: str, thumbs_dir: Path | None
) -> dict[str, Any]:
    """The slicer-dependent fields of an already read source (see `extract_metadata`)."""
    fields: dict[str, Any] = {}
    try:
        fields.update(slicer_fields(source))
    except Exception:  # a parser bug or odd content must not lose the basic fields
        log.exception("metadata parser failed")
    if thumbs_dir is not None:
        try:
            thumbnails = extract_thumbnails(source.head, stem, thumbs_dir)
        except OSError as error:
            log.info("cannot write thumbnails to %s: %s", thumbs_dir, error)
        else:
            if thumbnails:
                fields["thumbnails"] = thumbnails
    return {key: value for key, value in fields.items() if value is not None}
