"""Metadata extraction of 200 G-code files: moonlite in-process vs Moonraker's metadata.py.

Run: `.venv/bin/python benchmarks/files_metadata.py [--files 200]`

Moonraker extracts metadata by running `metadata.py -f <file> -p <folder>` in a new Python
process per file. This script installs Moonraker 0.11.0 from PyPI into its own venv
(`bench-venvs/moonraker`, created on first run), copies variants of the shared PrusaSlicer
files (a third with two embedded PNG thumbnails, a third with one large thumbnail so a 32x32
miniature must be made) into two temporary folders, and times both tools over the same files,
one after the other, in one run. It also prints the fields on which the two disagree.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED_GCODE = REPO.parent / "shared" / "gcode"
MOONRAKER_VENV = REPO / "bench-venvs" / "moonraker"
MOONRAKER_VERSION = "0.11.0"
COMPARED = (
    "slicer", "slicer_version", "gcode_start_byte", "gcode_end_byte", "estimated_time",
    "filament_total", "filament_weight_total", "layer_height", "first_layer_height",
    "object_height", "first_layer_extr_temp", "first_layer_bed_temp", "nozzle_diameter",
    "layer_count",
)

sys.path.insert(0, str(REPO))


def moonraker_metadata_script() -> tuple[Path, Path]:
    """The venv's python and Moonraker's metadata.py, installing Moonraker when missing."""
    python = MOONRAKER_VENV / "bin" / "python"
    found = sorted(MOONRAKER_VENV.glob("lib/python3*/site-packages/moonraker/components/"
                                       "file_manager/metadata.py"))
    if not found:
        print(f"installing moonraker=={MOONRAKER_VERSION} into {MOONRAKER_VENV} ...", flush=True)
        venv.create(MOONRAKER_VENV, with_pip=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"moonraker=={MOONRAKER_VERSION}"],
            check=True,
        )
        found = sorted(MOONRAKER_VENV.glob("lib/python3*/site-packages/moonraker/components/"
                                           "file_manager/metadata.py"))
    if not found:
        raise SystemExit("moonraker's file_manager/metadata.py not found after install")
    return python, found[0]


def thumbnail_block(width: int, height: int) -> bytes:
    """A PrusaSlicer `; thumbnail begin` block with a real PNG of that size."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (30, 30, 30))
    ImageDraw.Draw(image).ellipse((width // 4, height // 4, width * 3 // 4, height * 3 // 4),
                                  fill=(41, 178, 178))
    out = io.BytesIO()
    image.save(out, format="PNG")
    encoded = base64.b64encode(out.getvalue()).decode()
    lines = "\n".join(f"; {encoded[i:i + 78]}" for i in range(0, len(encoded), 78))
    return f";\n; thumbnail begin {width}x{height} {len(encoded)}\n{lines}\n; thumbnail end\n;\n"\
        .encode()


def make_files(folder: Path, count: int) -> list[str]:
    """`count` variants of the shared files; returns their names."""
    sources = sorted(SHARED_GCODE.glob("*.gcode"))
    both = thumbnail_block(32, 32) + thumbnail_block(300, 300)
    large_only = thumbnail_block(300, 300)
    names = []
    for index in range(count):
        data = sources[index % len(sources)].read_bytes()
        variant = index % 3
        if variant:
            cut = data.index(b"\n; external perimeters")
            data = data[:cut] + b"\n" + (both if variant == 1 else large_only) + data[cut:]
        name = f"{index:03d}_{sources[index % len(sources)].name}"
        (folder / name).write_bytes(data)
        names.append(name)
    return names


def run_moonraker(python: Path, script: Path, folder: Path, names: list[str]) -> dict[str, Any]:
    """Moonraker's way: one `metadata.py -f <name> -p <folder>` process per file."""
    results = {}
    for name in names:
        done = subprocess.run(
            [str(python), str(script), "-f", name, "-p", str(folder)],
            capture_output=True, check=True,
        )
        results[name] = json.loads(done.stdout)["metadata"]
    return results


def run_moonlite(folder: Path, names: list[str]) -> dict[str, Any]:
    """moonlite's way: `extract_metadata` called in-process (a worker thread in the server)."""
    from moonlite.components.files.metadata import extract_metadata

    return {name: extract_metadata(folder / name, folder / ".thumbs") for name in names}


def timed(function: Any, *args: Any) -> tuple[float, Any]:
    """Wall-clock seconds and the result of one call."""
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def differences(theirs: dict[str, Any], ours: dict[str, Any]) -> dict[str, set[str]]:
    """Per field: `file: moonraker -> moonlite` for values that differ."""
    found: dict[str, set[str]] = {}
    for name, their in theirs.items():
        our = ours[name]
        base = name.split("_", 1)[1]
        for field in COMPARED:
            if their.get(field) != our.get(field):
                found.setdefault(field, set()).add(
                    f"{base}: {their.get(field)!r} -> {our.get(field)!r}"
                )
        their_thumbs = [(t["width"], t["height"]) for t in their.get("thumbnails", [])]
        our_thumbs = [(t["width"], t["height"]) for t in our.get("thumbnails", [])]
        if their_thumbs != our_thumbs:
            found.setdefault("thumbnails", set()).add(f"{base}: {their_thumbs} -> {our_thumbs}")
    return found


def main() -> None:
    """Build the files, time both tools, print totals, ratio and disagreements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200, help="number of G-code files")
    args = parser.parse_args()
    python, script = moonraker_metadata_script()
    with tempfile.TemporaryDirectory() as temp:
        mr_dir, ml_dir, warm_dir = Path(temp, "moonraker"), Path(temp, "moonlite"), Path(temp, "w")
        for folder in (mr_dir, ml_dir, warm_dir):
            folder.mkdir()
        names = make_files(mr_dir, args.files)
        make_files(ml_dir, args.files)
        # warm the page cache and both interpreters' imports once, outside the timings
        warm = make_files(warm_dir, 3)
        run_moonraker(python, script, warm_dir, warm[:1])
        run_moonlite(warm_dir, warm[1:2])

        mr_seconds, theirs = timed(run_moonraker, python, script, mr_dir, names)
        ml_seconds, ours = timed(run_moonlite, ml_dir, names)

    count = len(names)
    print(f"metadata extraction of {count} files "
          f"({', '.join(p.name for p in sorted(SHARED_GCODE.glob('*.gcode')))}; "
          "1/3 with 32x32+300x300 PNG thumbnails, 1/3 with a 300x300 only)")
    print(f"  Moonraker {MOONRAKER_VERSION} metadata.py, one process per file: "
          f"{mr_seconds:8.3f} s  ({mr_seconds / count * 1000:7.2f} ms/file)")
    print(f"  moonlite extract_metadata, in-process:            "
          f"{ml_seconds:8.3f} s  ({ml_seconds / count * 1000:7.2f} ms/file)")
    print(f"  ratio: moonlite is {mr_seconds / ml_seconds:.1f}x faster (goal: >= 10x)")
    diff = differences(theirs, ours)
    if diff:
        print("fields that differ (Moonraker -> moonlite):")
        for field, cases in sorted(diff.items()):
            for case in sorted(cases):
                print(f"  {field}: {case}")


if __name__ == "__main__":
    main()
