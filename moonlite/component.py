"""The component model and loader: config-driven, declared dependencies, ordered lifespans."""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from moonlite.config import ConfigError, Section, SectionModel, validate_section

if TYPE_CHECKING:
    from moonlite.server import Host

log = logging.getLogger(__name__)


class Component:
    """A loadable piece of moonlite, named after its config section.

    Subclasses set `name`, optionally `Config` (a `SectionModel`), `requires` (names of other
    components) and override `lifespan` (set-up, `yield`, tear-down). Methods decorated with
    `@api` are served; methods decorated with `@on_event` receive events.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[SectionModel]] = SectionModel
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, host: Host, config: Any, section: Section | None) -> None:
        self.host = host
        self.config = config
        self.section = section
        self.log = logging.getLogger(f"moonlite.{self.name}")

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Set up, yield while running, tear down. The default does nothing."""
        yield


#: section name -> module under moonlite.components, where they differ
SECTION_MODULES: dict[str, str] = {
    "file_manager": "files",
    "database": "database_api",
    "webcam": "webcams",
    # `[event_hook <name>]` sections alone (no `[event_hooks]`) load the event_hooks component
    "event_hook": "event_hooks",
}

#: loaded whatever the config says, in this order (then configured ones)
CORE_COMPONENTS: tuple[str, ...] = (
    "database", "authorization", "machine", "webcam", "announcements", "plugins",
)


def component_class(kind: str) -> type[Component]:
    """Import the component class for a section kind (raises ImportError/ConfigError)."""
    module_name = SECTION_MODULES.get(kind, kind)
    if not module_name.isidentifier():
        raise ConfigError(f"[{kind}]: not a component name")
    module = importlib.import_module(f"moonlite.components.{module_name}")
    cls = getattr(module, "COMPONENT", None)
    if not (isinstance(cls, type) and issubclass(cls, Component)):
        raise ConfigError(f"moonlite.components.{module_name} defines no COMPONENT")
    return cls


def order_by_dependencies(classes: dict[str, type[Component]]) -> list[str]:
    """Names in an order where every component comes after what it requires."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise ConfigError(f"dependency cycle: {' -> '.join((*chain, name))}")
        visiting.add(name)
        for dep in classes[name].requires:
            if dep not in classes:
                raise ConfigError(f"component '{name}' requires '{dep}', which is not loaded")
            visit(dep, (*chain, name))
        visiting.discard(name)
        ordered.append(name)

    for name in classes:
        visit(name, ())
    return ordered


def make_component(host: Host, cls: type[Component], section: Section | None) -> Component:
    """Validate the section with the component's model and instantiate it."""
    config = validate_section(cls.Config, section, name=cls.name)
    return cls(host, config, section)
