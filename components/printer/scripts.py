"""G-code scripts (OctoPrint's names) rendered with a sandboxed Jinja2; overrides in the config."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .framing import strip_comment

log = logging.getLogger(__name__)

#: the folder under the config folder that holds one file per overridden script
SCRIPTS_FOLDER = ("scripts", "gcode")

_HEATERS_OFF = """\
{%- for tool in range(printer_profile.extruder.count) %}
M104 T{{ tool }} S0
{%- endfor %}
{%- if printer_profile.heatedBed %}
M140 S0
{%- endif %}
{%- if printer_profile.heatedChamber %}
M141 S0
{%- endif %}
"""

#: the defaults: like OctoPrint's, cancelling switches off heaters, fan and steppers
DEFAULT_SCRIPTS: dict[str, str] = {
    "beforePrintStarted": "",
    "afterPrintDone": "",
    "afterPrintCancelled": "; disable motors\nM84\n; disable all heaters\n" + _HEATERS_OFF
    + "; disable fan\nM106 S0\n",
    "afterPrintPaused": "",
    "beforePrintResumed": "",
    "beforeToolChange": "",
    "afterToolChange": "",
    "afterPrinterConnected": "",
    "beforePrinterDisconnected": "",
}


class UnknownScript(KeyError):
    """There is no G-code script of that name (OctoPrint's `UnknownScript`)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"Unknown G-code script: {self.name}"


class GcodeScripts:
    """Finds, renders and splits G-code scripts.

    A file `<config>/scripts/gcode/<name>` overrides the built-in script `name` (and may add new
    names). Templates run in Jinja2's immutable sandbox: they can read the context they are
    given but neither call unsafe attributes nor change any object.
    """

    def __init__(self, config_dir: Path) -> None:
        self.folder = config_dir.joinpath(*SCRIPTS_FOLDER)
        self.env = ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(self.folder)),
            undefined=jinja2.ChainableUndefined,
            autoescape=False,
            keep_trailing_newline=True,
        )

    def names(self) -> list[str]:
        """Every known script name (built-in and overridden/added in the config folder)."""
        names = set(DEFAULT_SCRIPTS)
        if self.folder.is_dir():
            names.update(p.name for p in self.folder.iterdir() if p.is_file())
        return sorted(names)

    def source(self, name: str) -> str:
        """The template text of `name` (the override file when there is one)."""
        if "/" in name or "\\" in name or name.startswith("."):
            raise UnknownScript(name)
        override = self.folder / name
        if override.is_file():
            return override.read_text(encoding="utf-8", errors="replace")
        if name in DEFAULT_SCRIPTS:
            return DEFAULT_SCRIPTS[name]
        raise UnknownScript(name)

    def render(self, name: str, context: dict[str, Any] | None = None) -> list[str]:
        """Render `name` with `context`; return its command lines (comments/blanks dropped).

        Raises `UnknownScript`; a template error is logged and renders as no lines, so a
        broken override never stops a print half-way.
        """
        text = self.source(name)
        if not text.strip():
            return []
        try:
            rendered = self.env.from_string(text).render({"script": {"name": name},
                                                          **(context or {})})
        except jinja2.TemplateError as exc:
            log.error("G-code script %s failed to render: %s", name, exc)
            return []
        lines = []
        for raw in rendered.splitlines():
            line = strip_comment(raw)
            if line:
                lines.append(line)
        return lines
