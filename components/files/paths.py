"""Roots and path safety: every path from a request is resolved inside its root, or refused."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from moonlite.rpc import ApiError

#: Linux limits (NAME_MAX, PATH_MAX): longer names are refused before touching the disk
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096
#: G-code extensions Moonraker lists in the gcodes root
GCODE_EXTENSIONS = (".gcode", ".g", ".gco", ".ufp", ".nc")
#: prefix of upload temporary files (hidden, ignored by listings and the watcher)
UPLOAD_PREFIX = ".moonlite-upload-"


@dataclass(frozen=True)
class Root:
    """A registered root: its name, folder and whether it may be written."""

    name: str
    path: Path
    writable: bool

    @property
    def permissions(self) -> str:
        """Moonraker's permission string: "rw" or "r"."""
        return "rw" if self.writable else "r"

    @property
    def real(self) -> Path:
        """The root folder with symlinks resolved (what contained paths are checked against)."""
        return Path(os.path.realpath(self.path))

    def relative(self, path: Path) -> str:
        """The root-relative form of an absolute path inside this root."""
        rel = os.path.relpath(path, self.real)
        return "" if rel == "." else rel.replace(os.sep, "/")


def is_gcode(name: str) -> bool:
    """Whether `name` has one of the G-code extensions."""
    return name.lower().endswith(GCODE_EXTENSIONS)


def is_hidden(rel_path: str) -> bool:
    """Whether any component of a root-relative path starts with a dot."""
    return any(part.startswith(".") for part in rel_path.split("/") if part)


def check_relative(path: str) -> str:
    """Validate a root-relative request path and normalise it ("" is the root itself).

    Refused (400): NUL bytes and overlong names. Refused (403): absolute paths and any `..`
    component (also when it arrived URL-encoded: callers pass the decoded form).
    """
    if "\x00" in path:
        raise ApiError("Invalid path: NUL byte", 400)
    if len(path.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise ApiError("Invalid path: too long", 400)
    if path.startswith("/") or path.startswith("\\"):
        raise ApiError(f"Path not in a valid root: {path}", 403)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    for part in parts:
        if part == "..":
            raise ApiError(f"Path not in a valid root: {path}", 403)
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise ApiError("Invalid path: file name too long", 400)
    return "/".join(parts)


class Roots:
    """The registered roots and the one place where request paths become filesystem paths."""

    def __init__(self, roots: list[Root]) -> None:
        self.by_name = {root.name: root for root in roots}

    def get(self, name: str) -> Root:
        """The root called `name` (400 if there is none)."""
        root = self.by_name.get(name)
        if root is None:
            raise ApiError(f"Invalid root request: {printable(name)}", 400)
        return root

    def split(self, full: str) -> tuple[Root, str]:
        """`"gcodes/sub/x.gcode"` -> (gcodes root, "sub/x.gcode")."""
        if "\x00" in full:
            raise ApiError("Invalid path: NUL byte", 400)
        stripped = full.strip()
        if stripped.startswith("/"):
            raise ApiError(f"Path not in a valid root: {full}", 403)
        name, _, rest = stripped.partition("/")
        return self.get(name), check_relative(rest)

    def resolve(self, root: Root | str, rel: str, *, write: bool = False) -> Path:
        """The absolute path of `rel` inside `root`, after every safety check.

        Symlinks are resolved for the check: the real target must stay inside the root's real
        folder (403 otherwise). `write` also requires a writable root (403).
        """
        if isinstance(root, str):
            root = self.get(root)
        if write and not root.writable:
            raise ApiError(f"Root '{root.name}' is read-only", 403)
        clean = check_relative(rel)
        base = root.real
        if not clean:
            return base
        lexical = base / clean
        real = Path(os.path.realpath(lexical))
        if real != base and base not in real.parents:
            raise ApiError(f"Path not in a valid root: {root.name}/{rel}", 403)
        # the lexical path: a link inside the root is itself deleted or moved, not its target
        return lexical

    def resolve_full(self, full: str, *, write: bool = False) -> tuple[Root, str, Path]:
        """Resolve a `"<root>/<path>"` string: (root, normalised relative path, absolute path)."""
        root, rel = self.split(full)
        return root, rel, self.resolve(root, rel, write=write)

    def locate(self, path: Path) -> tuple[Root, str] | None:
        """Which root holds an absolute path, and its relative form (None when none does)."""
        real = Path(os.path.realpath(path))
        for root in self.by_name.values():
            base = root.real
            if real == base or base in real.parents:
                return root, root.relative(real)
        return None


def printable(text: str) -> str:
    """`text` with control characters escaped (it may end up in a reason phrase)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:300])


def join(*parts: str) -> str:
    """Join root-relative path pieces with `/`, skipping empty ones."""
    return posixpath.join(*[p for p in parts if p]) if any(parts) else ""


def raw_path_suspicious(raw: str) -> bool:
    """Whether a raw (still URL-encoded) request path hides dots, slashes or NUL in escapes."""
    lowered = raw.lower()
    return any(token in lowered for token in ("%2e%2e", "%2e.", ".%2e", "%00", "%2f..", "..%2f"))
