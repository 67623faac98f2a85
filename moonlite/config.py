"""INI configuration in moonraker.conf style, validated per section by pydantic models."""

from __future__ import annotations

import configparser
import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration problem; the message names file, section and option."""


class SectionModel(BaseModel):
    """Base for component config models: unknown options are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


@dataclass
class Section:
    """One `[name]` section: its options (strings) and the file each option came from."""

    name: str
    options: dict[str, str] = field(default_factory=dict)
    origins: dict[str, Path] = field(default_factory=dict)
    file: Path | None = None

    @property
    def kind(self) -> str:
        """The first word of the name: `[webcam front]` is of kind `webcam`."""
        return self.name.split(None, 1)[0]

    @property
    def instance(self) -> str:
        """The rest of the name after the kind (`front` for `[webcam front]`), or ``""``."""
        parts = self.name.split(None, 1)
        return parts[1].strip() if len(parts) > 1 else ""

    def where(self, option: str | None = None) -> str:
        """`file: [section] option 'x'` for error messages."""
        src = self.origins.get(option or "", self.file)
        prefix = f"{src}: " if src else ""
        opt = f" option '{option}'" if option else ""
        return f"{prefix}[{self.name}]{opt}"


def _describe(err: dict[str, Any]) -> tuple[str | None, str]:
    loc = err.get("loc") or ()
    option = str(loc[0]) if loc else None
    if err.get("type") == "extra_forbidden":
        return option, "unknown option"
    if err.get("type") == "missing":
        return option, "required option is missing"
    return option, str(err.get("msg", "invalid value"))


def validate_section(model: type[M], section: Section | None, name: str = "") -> M:
    """Validate a section's options with `model`; raise `ConfigError` naming what is wrong."""
    section = section or Section(name=name or model.__name__)
    try:
        return model.model_validate(section.options)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            option, what = _describe(dict(err))
            problems.append(f"{section.where(option)}: {what}")
        raise ConfigError("; ".join(problems)) from None


class Config:
    """A parsed configuration: ordered sections, merged across `[include]` files."""

    def __init__(self, sections: dict[str, Section] | None = None, path: Path | None = None):
        self.sections: dict[str, Section] = sections or {}
        self.path = path

    @classmethod
    def load(cls, path: Path) -> Config:
        """Parse `path` and every file its `[include glob]` sections name."""
        path = path.expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        config = cls(path=path)
        config._read(path, seen=set())
        return config

    @classmethod
    def from_string(cls, text: str, path: Path | None = None) -> Config:
        """Parse configuration text (used by tests and embedded defaults)."""
        config = cls(path=path)
        config._parse_text(text, path or Path("<string>"), seen=set())
        return config

    def _read(self, path: Path, seen: set[Path]) -> None:
        if path in seen:
            raise ConfigError(f"{path}: included more than once (include loop)")
        seen.add(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
        self._parse_text(text, path, seen)

    def _parse_text(self, text: str, path: Path, seen: set[Path]) -> None:
        parser = configparser.ConfigParser(
            interpolation=None, strict=False, inline_comment_prefixes=("#",),
            empty_lines_in_values=True,
        )
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read_string(text, source=str(path))
        except configparser.Error as exc:
            raise ConfigError(f"{path}: {exc.message if hasattr(exc, 'message') else exc}") \
                from None
        for name in parser.sections():
            if name.startswith("include "):
                pattern = name[len("include "):].strip()
                base = path.parent
                matches = sorted(glob.glob(str(base / pattern)))
                if not matches and not glob.has_magic(pattern):
                    raise ConfigError(f"{path}: [{name}]: no file matches '{pattern}'")
                for match in matches:
                    self._read(Path(match).resolve(), seen)
                continue
            section = self.sections.setdefault(name, Section(name=name, file=path))
            for option, value in parser.items(name):
                section.options[option] = value.strip()
                section.origins[option] = path

    def get(self, name: str) -> Section | None:
        """The section called `name`, if configured."""
        return self.sections.get(name)

    def has(self, name: str) -> bool:
        """Whether `[name]` is configured."""
        return name in self.sections

    def of_kind(self, kind: str) -> list[Section]:
        """Every section whose first word is `kind` (`[webcam a]`, `[webcam b]`, `[webcam]`)."""
        return [s for s in self.sections.values() if s.kind == kind]

    def as_dict(self) -> dict[str, dict[str, str]]:
        """All sections and their raw options (for `server.config`)."""
        return {name: dict(s.options) for name, s in self.sections.items()}
