"""`[gcode_macro NAME]` sections: Klipper-style G-code macros rendered with sandboxed Jinja2.

As in Klipper, templates use `{ expr }` for expressions and `{% … %}` for statements, see
`params` (the command's `KEY=VALUE` parameters, upper-case keys), `rawparams`, `printer` (the
printer objects, `printer["gcode_macro NAME"]` included) and the macro's own `variable_*`
values, and may call `action_respond_info`, `action_raise_error` and `action_emergency_stop`.
A macro with `rename_existing: NEW` takes over an existing command, which stays callable as NEW.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

#: the macros Mainsail and Fluidd look for; defined unless the config has its own
DEFAULT_MACROS = {
    "PAUSE": ("Pause the actual running print", "BASE_PAUSE"),
    "RESUME": ("Resume the actual running print", "BASE_RESUME"),
    "CANCEL_PRINT": ("Cancel the actual running print", "BASE_CANCEL_PRINT"),
}


class MacroError(Exception):
    """A macro could not be defined, rendered or run (the message is the G-code error)."""


class Coord(list[float]):
    """A `[x, y, z, e]` list that templates may also read as `.x`, `.y`, `.z`, `.e`."""

    @property
    def x(self) -> float:
        """The X value."""
        return self[0]

    @property
    def y(self) -> float:
        """The Y value."""
        return self[1]

    @property
    def z(self) -> float:
        """The Z value."""
        return self[2]

    @property
    def e(self) -> float:
        """The E value."""
        return self[3]


def template_value(value: Any) -> Any:
    """A copy of an object value for templates: 4-number lists become `Coord`s."""
    if isinstance(value, dict):
        return {k: template_value(v) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) == 4 and all(isinstance(v, int | float) for v in value):
            return Coord(value)
        return [template_value(v) for v in value]
    return value


def literal(text: str) -> Any:
    """A `variable_*` value or `SET_GCODE_VARIABLE VALUE=` as Klipper reads it (a literal)."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        raise MacroError(f"Unable to parse '{text}' as a literal") from None


@dataclasses.dataclass
class Macro:
    """One configured macro."""

    name: str
    gcode: str
    description: str = "G-Code macro"
    rename_existing: str | None = None
    variables: dict[str, Any] = dataclasses.field(default_factory=dict)
    template: jinja2.Template | None = None
    #: the name as the config writes it: Klipper's object is `gcode_macro <written>`
    written: str = ""

    @property
    def object_name(self) -> str:
        """The printer object (and config section) of this macro."""
        return f"gcode_macro {self.written or self.name}"

    def settings(self) -> dict[str, Any]:
        """The macro's `configfile` options (typed)."""
        values: dict[str, Any] = {"gcode": self.gcode, "description": self.description}
        if self.rename_existing:
            values["rename_existing"] = self.rename_existing
        for key, value in self.variables.items():
            values[f"variable_{key}"] = repr(value) if not isinstance(value, str) else value
        return values


def make_environment() -> SandboxedEnvironment:
    """Klipper's template syntax, sandboxed: `{ }` expressions, `{% %}` statements."""
    return SandboxedEnvironment(
        block_start_string="{%", block_end_string="%}",
        variable_start_string="{", variable_end_string="}",
        comment_start_string="{#", comment_end_string="#}",
        autoescape=False, undefined=jinja2.Undefined,
        extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
    )


class MacroSet:
    """Every macro by upper-case name."""

    def __init__(self) -> None:
        self.env = make_environment()
        self.macros: dict[str, Macro] = {}

    def add(self, name: str, options: dict[str, str]) -> Macro:
        """Define a macro from its section options (raises `MacroError` on a bad template)."""
        written = name.strip()
        name = written.upper()
        if not name or " " in name:
            raise MacroError(f"Invalid macro name '{name}'")
        variables = {key[len("variable_"):].lower(): literal(value)
                     for key, value in options.items() if key.startswith("variable_")}
        unknown = {key for key in options if not key.startswith("variable_")
                   and key not in ("gcode", "description", "rename_existing")}
        if unknown:
            raise MacroError(f"[gcode_macro {name}]: unknown option(s) {sorted(unknown)}")
        if "gcode" not in options:
            raise MacroError(f"[gcode_macro {name}]: option 'gcode' is required")
        rename = options.get("rename_existing", "").strip().upper() or None
        macro = Macro(name, options["gcode"], options.get("description", "G-Code macro"),
                      rename, variables, written=written)
        try:
            macro.template = self.env.from_string(macro.gcode)
        except jinja2.TemplateSyntaxError as exc:
            raise MacroError(f"Error loading template 'gcode_macro {name}:gcode': "
                             f"{exc}") from None
        self.macros[name] = macro
        return macro

    def add_defaults(self) -> None:
        """PAUSE, RESUME and CANCEL_PRINT unless configured (they call the built-ins)."""
        for name, (description, base) in DEFAULT_MACROS.items():
            if name not in self.macros:
                self.add(name, {"description": description, "rename_existing": base,
                                "gcode": base})

    def get(self, name: str) -> Macro | None:
        """The macro called `name` (any case)."""
        return self.macros.get(name.upper())

    def render(self, macro: Macro, params: dict[str, str], rawparams: str,
               printer: dict[str, Any], actions: dict[str, Any]) -> list[str]:
        """The macro's G-code lines for one call."""
        context: dict[str, Any] = {**template_value(macro.variables), "params": params,
                                   "rawparams": rawparams, "printer": printer, **actions}
        assert macro.template is not None
        try:
            text = macro.template.render(context)
        except MacroError:
            raise
        except Exception as exc:
            raise MacroError(f"Error evaluating 'gcode_macro {macro.name}:gcode': "
                             f"{type(exc).__name__}: {exc}") from None
        return [line.strip() for line in text.splitlines() if line.strip()]

    def set_variable(self, name: str, variable: str, value: str) -> Macro:
        """`SET_GCODE_VARIABLE MACRO=name VARIABLE=variable VALUE=value`."""
        macro = self.get(name)
        if macro is None:
            raise MacroError(f"Unknown gcode_macro '{name}'")
        key = variable.lower()
        if key not in macro.variables:
            raise MacroError(f"Unknown gcode_macro variable '{variable}'")
        macro.variables[key] = literal(value)
        return macro
