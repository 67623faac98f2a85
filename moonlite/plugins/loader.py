"""Finding plugins (bundled, entry points, the data folder's `plugins/`) and instantiating them."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moonlite.plugins.core import MoonlitePlugin

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "moonlite.plugins"
#: plugins that ship with moonlite (loaded unless disabled)
BUNDLED: dict[str, str] = {"prusaslicer": "moonlite.plugins.bundled.prusaslicer"}
IDENTIFIER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
FOLDER_PACKAGE = "moonlite_folder_plugins"


@dataclass
class PluginEntry:
    """A plugin found somewhere, not imported yet."""

    identifier: str
    source: str  # "bundled" | "entry_point" | "folder"
    origin: str
    load: Callable[[], Any]
    version: str | None = None


@dataclass
class PluginInfo:
    """A plugin as the manager knows it: metadata, implementation or the reason it failed."""

    identifier: str
    source: str
    origin: str
    name: str = ""
    version: str | None = None
    description: str = ""
    implementation: MoonlitePlugin | None = None
    error: str | None = None
    hook_errors: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> bool:
        """Whether the plugin runs."""
        return self.implementation is not None and self.error is None

    def describe(self) -> dict[str, Any]:
        """What the API shows about the plugin."""
        out: dict[str, Any] = {
            "identifier": self.identifier, "name": self.name or self.identifier,
            "version": self.version, "description": self.description, "source": self.source,
            "origin": self.origin,
        }
        if self.implementation is not None:
            out["types"] = mixin_names(self.implementation)
        if self.error is not None:
            out["error"] = self.error
        out["hook_errors"] = list(self.hook_errors[-10:])
        return out


def mixin_names(implementation: object) -> list[str]:
    """The moonlite plugin mixins an implementation includes (e.g. ["SettingsPlugin"])."""
    from moonlite.plugins import MIXINS

    return [cls.__name__ for cls in MIXINS if isinstance(implementation, cls)]


def _folder_entries(folder: Path) -> list[PluginEntry]:
    entries: list[PluginEntry] = []
    if not folder.is_dir():
        return entries
    for child in sorted(folder.iterdir()):
        if child.name.startswith(("_", ".")):
            continue
        if child.is_file() and child.suffix == ".py":
            identifier, init = child.stem, child
        elif child.is_dir() and (child / "__init__.py").is_file():
            identifier, init = child.name, child / "__init__.py"
        else:
            continue
        entries.append(PluginEntry(identifier, "folder", str(child),
                                   _folder_loader(identifier, init, child.is_dir())))
    return entries


def _folder_loader(identifier: str, init: Path, package: bool) -> Callable[[], Any]:
    def load() -> Any:
        if FOLDER_PACKAGE not in sys.modules:
            parent = types.ModuleType(FOLDER_PACKAGE)
            parent.__path__ = []
            sys.modules[FOLDER_PACKAGE] = parent
        name = f"{FOLDER_PACKAGE}.{identifier.replace('-', '_')}"
        spec = importlib.util.spec_from_file_location(
            name, init, submodule_search_locations=[str(init.parent)] if package else None)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {init}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module

    return load


def _entry_point_entries() -> list[PluginEntry]:
    entries = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        version = ep.dist.version if ep.dist is not None else None
        entries.append(PluginEntry(ep.name, "entry_point", ep.value, ep.load, version))
    return entries


def discover(folder: Path | None, disabled: set[str], *, bundled: bool = True,
             entry_points: bool = True) -> tuple[list[PluginEntry], list[PluginInfo]]:
    """Every plugin to load (first of an identifier wins) and those refused outright."""
    found: list[PluginEntry] = []
    if bundled:
        found += [PluginEntry(i, "bundled", m, _module_loader(m)) for i, m in BUNDLED.items()]
    if entry_points:
        found += _entry_point_entries()
    if folder is not None:
        found += _folder_entries(folder)
    entries: list[PluginEntry] = []
    refused: list[PluginInfo] = []
    seen: set[str] = set()
    for entry in found:
        if entry.identifier in disabled:
            log.info("plugin %s is disabled", entry.identifier)
            continue
        reason = None
        if not IDENTIFIER.match(entry.identifier):
            reason = f"invalid plugin identifier {entry.identifier!r}"
        elif entry.identifier in seen:
            reason = f"another plugin already uses the identifier {entry.identifier!r}"
        if reason:
            refused.append(PluginInfo(entry.identifier, entry.source, entry.origin,
                                      error=reason))
            continue
        seen.add(entry.identifier)
        entries.append(entry)
    return entries, refused


def _module_loader(module: str) -> Callable[[], Any]:
    return lambda: importlib.import_module(module)


def instantiate(entry: PluginEntry) -> PluginInfo:
    """Import a plugin and create its implementation; failures are recorded in the info."""
    info = PluginInfo(entry.identifier, entry.source, entry.origin, version=entry.version)
    try:
        loaded = entry.load()
        module = loaded if isinstance(loaded, types.ModuleType) else \
            sys.modules.get(getattr(loaded, "__module__", ""), None)
        if isinstance(loaded, types.ModuleType):
            load_hook = getattr(loaded, "__plugin_load__", None)
            if callable(load_hook):
                load_hook()
            impl: Any = getattr(loaded, "__plugin_implementation__", None)
        else:
            impl = loaded
        if isinstance(impl, type) and issubclass(impl, MoonlitePlugin):
            impl = impl()
        elif isinstance(impl, MoonlitePlugin):
            impl = _fresh(impl)
        if not isinstance(impl, MoonlitePlugin):
            raise TypeError("no plugin implementation (set __plugin_implementation__ to an "
                            "instance of a moonlite plugin mixin)")
        info.implementation = impl
        meta = [impl, module]  # class attributes win over the module's
        info.name = str(_meta(meta, "__plugin_name__") or entry.identifier)
        info.version = str(_meta(meta, "__plugin_version__") or info.version or "") or None
        info.description = str(_meta(meta, "__plugin_description__") or "")
    except Exception as exc:
        log.exception("plugin %s failed to load", entry.identifier)
        info.error = f"failed to load: {type(exc).__name__}: {exc}"
        info.implementation = None
    return info


def _fresh(impl: MoonlitePlugin) -> MoonlitePlugin:
    """A new instance of the implementation's class, so that every host (and every restart)
    starts from a clean plugin; a class that needs constructor arguments keeps the instance."""
    try:
        return type(impl)()
    except TypeError:
        return impl


def _meta(sources: list[Any], name: str) -> Any:
    for source in sources:
        value = getattr(source, name, None)
        if value:
            return value
    return None


def basefolder(implementation: MoonlitePlugin) -> str:
    """The folder the plugin's code lives in."""
    try:
        return str(Path(inspect.getfile(type(implementation))).resolve().parent)
    except (TypeError, OSError):
        return ""
