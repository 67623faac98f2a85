"""Plugin settings: defaults, get/set by path, preprocessors, restricted paths, persistence."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from typing import Any

from moonlite.plugins.core import MoonlitePlugin

log = logging.getLogger(__name__)

Path = Sequence[str] | str
Store = Callable[[dict[str, Any]], Awaitable[None]]
Preprocessors = dict[str, Any]  # nested dicts whose leaves are callables

#: roles of API callers, from least to most trusted
ANONYMOUS, USER, ADMIN = 0, 1, 2
#: restricted-path keys and the role needed to see them (unknown keys need ADMIN)
RESTRICTION_ROLES = {"user": USER, "admin": ADMIN, "never": ADMIN + 1}

_MISSING = object()


def split_path(path: Path) -> list[str]:
    """`["a", "b"]`, `("a", "b")` or `"a.b"` -> `["a", "b"]`."""
    if isinstance(path, str):
        return [p for p in path.split(".") if p]
    return [str(p) for p in path]


def _lookup(tree: Any, parts: list[str]) -> Any:
    node = tree
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base` with `top` merged in (dicts recursively, everything else replaced)."""
    merged = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def minimal_diff(data: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The parts of `data` that differ from `defaults` (what is worth persisting)."""
    diff: dict[str, Any] = {}
    for key, value in data.items():
        default = defaults.get(key, _MISSING)
        if isinstance(value, dict) and isinstance(default, dict):
            sub = minimal_diff(value, default)
            if sub:
                diff[key] = sub
        elif value != default:
            diff[key] = copy.deepcopy(value)
    return diff


def leaf_paths(data: dict[str, Any], prefix: tuple[str, ...] = ()
               ) -> Iterable[tuple[list[str], Any]]:
    """Every (path, value) of `data` whose value is not a dict."""
    for key, value in data.items():
        if isinstance(value, dict) and value:
            yield from leaf_paths(value, (*prefix, key))
        else:
            yield [*prefix, key], value


class PluginSettings:
    """One plugin's settings: stored values over defaults, with OctoPrint's accessors.

    Only values that differ from the defaults are stored. `set` changes memory at once;
    `save()` writes to the database in the background (await it to know it is committed).
    """

    config_version_key = "_config_version"

    def __init__(self, identifier: str, defaults: dict[str, Any] | None = None, *,
                 data: dict[str, Any] | None = None,
                 getters: Preprocessors | None = None, setters: Preprocessors | None = None,
                 restricted: Mapping[str, Sequence[Path]] | None = None,
                 store: Store | None = None) -> None:
        self.identifier = identifier
        self.defaults: dict[str, Any] = copy.deepcopy(defaults or {})
        self.data: dict[str, Any] = copy.deepcopy(data or {})
        self.getters = getters or {}
        self.setters = setters or {}
        self.restricted = {str(k): [split_path(p) for p in v]
                           for k, v in (restricted or {}).items()}
        self._store = store
        self._lock = asyncio.Lock()
        self._pending: asyncio.Task[None] | None = None
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    # -- reading --------------------------------------------------------------------------

    def get(self, path: Path, merged: bool = True, incl_defaults: bool = True,
            preprocessors: bool = True) -> Any:
        """The value at `path` (stored, else default); dicts come merged with their defaults."""
        parts = split_path(path)
        stored = _lookup(self.data, parts)
        default = _lookup(self.defaults, parts) if incl_defaults else _MISSING
        if isinstance(stored, dict) and isinstance(default, dict) and merged:
            value: Any = deep_merge(default, stored)
        elif stored is not _MISSING:
            value = copy.deepcopy(stored)
        elif default is not _MISSING:
            value = copy.deepcopy(default)
        else:
            value = None
        if preprocessors:
            func = _lookup(self.getters, parts)
            if callable(func):
                value = func(value)
        return value

    def get_int(self, path: Path) -> int | None:
        """The value at `path` as an int (None when not convertible)."""
        try:
            return int(self.get(path))
        except (TypeError, ValueError):
            return None

    def get_float(self, path: Path) -> float | None:
        """The value at `path` as a float (None when not convertible)."""
        try:
            return float(self.get(path))
        except (TypeError, ValueError):
            return None

    def get_boolean(self, path: Path) -> bool:
        """The value at `path` as a bool ("true", "yes", "on", "1" and true values)."""
        value = self.get(path)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "yes", "y", "on", "1")
        return bool(value)

    def has(self, path: Path) -> bool:
        """Whether a value is stored (not just defaulted) at `path`."""
        return _lookup(self.data, split_path(path)) is not _MISSING

    def get_all_data(self) -> dict[str, Any]:
        """Every setting (defaults merged with stored values), without the version key."""
        merged = deep_merge(self.defaults, self.data)
        merged.pop(self.config_version_key, None)
        for parts, _ in list(leaf_paths(self.getters)):
            value = _lookup(merged, parts)
            if value is not _MISSING:
                self._put(merged, parts, self.get(parts))
        return merged

    # -- writing --------------------------------------------------------------------------

    def set(self, path: Path, value: Any, force: bool = False,
            preprocessors: bool = True) -> None:
        """Store `value` at `path` (a value equal to the default is dropped unless `force`)."""
        parts = split_path(path)
        if not parts:
            raise ValueError("empty settings path")
        if preprocessors:
            func = _lookup(self.setters, parts)
            if callable(func):
                value = func(value)
        if not force and _lookup(self.defaults, parts) == value:
            self.remove(parts)
            return
        self._put(self.data, parts, copy.deepcopy(value))

    def set_int(self, path: Path, value: Any, force: bool = False) -> None:
        """Store `value` as an int."""
        self.set(path, int(value), force=force)

    def set_float(self, path: Path, value: Any, force: bool = False) -> None:
        """Store `value` as a float."""
        self.set(path, float(value), force=force)

    def set_boolean(self, path: Path, value: Any, force: bool = False) -> None:
        """Store `value` as a bool."""
        if isinstance(value, str):
            value = value.strip().lower() in ("true", "yes", "y", "on", "1")
        self.set(path, bool(value), force=force)

    def remove(self, path: Path) -> None:
        """Forget the stored value at `path` (the default applies again)."""
        parts = split_path(path)
        node: Any = self.data
        for part in parts[:-1]:
            if not isinstance(node, dict) or part not in node:
                return
            node = node[part]
        if isinstance(node, dict):
            node.pop(parts[-1], None)

    @staticmethod
    def _put(tree: dict[str, Any], parts: list[str], value: Any) -> None:
        node = tree
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value

    def clean(self) -> None:
        """Keep only what differs from the defaults (OctoPrint's settings clean-up)."""
        version = self.data.get(self.config_version_key)
        self.data = minimal_diff(self.data, self.defaults)
        if version is not None:
            self.data[self.config_version_key] = version

    # -- persistence ----------------------------------------------------------------------

    def save(self, force: bool = False, trigger_event: bool = False) -> Awaitable[None]:
        """Write the stored values to the database in the background; await to be sure.

        From a worker thread (a `@blocking` hook) it returns once the write is committed.
        """
        del force, trigger_event  # accepted for OctoPrint compatibility
        snapshot = copy.deepcopy(self.data)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is None:
                raise RuntimeError("settings can only be saved while moonlite runs") from None
            asyncio.run_coroutine_threadsafe(self._write(snapshot), self._loop).result(60)
            return _Done()
        task = loop.create_task(self._write(snapshot))
        self._pending = task
        return task

    async def _write(self, snapshot: dict[str, Any]) -> None:
        if self._store is None:
            return
        async with self._lock:  # writes land in the order they were asked for
            await self._store(snapshot)

    async def flush(self) -> None:
        """Wait until the last `save()` is committed."""
        if self._pending is not None:
            await self._pending

    # -- the API view ---------------------------------------------------------------------

    def restricted_view(self, data: dict[str, Any], role: int) -> dict[str, Any]:
        """`data` with every path `role` may not see replaced by None / {} / []."""
        view = copy.deepcopy(data)
        for key, paths in self.restricted.items():
            if role >= RESTRICTION_ROLES.get(key, ADMIN):
                continue
            for parts in paths:
                current = _lookup(view, parts)
                if current is _MISSING:
                    continue
                empty: Any = {} if isinstance(current, dict) else \
                    [] if isinstance(current, list) else None
                self._put(view, parts, empty)
        return view

    def may_write(self, parts: list[str], role: int) -> bool:
        """Whether `role` may change `parts` over the API (restricted paths need the role)."""
        for key, paths in self.restricted.items():
            needed = RESTRICTION_ROLES.get(key, ADMIN)
            for restricted in paths:
                overlap = min(len(restricted), len(parts))
                if restricted[:overlap] == parts[:overlap] and role < needed:
                    return False
        return True


class _Done:
    """An awaitable that is already finished."""

    def __await__(self) -> Generator[None, None, None]:
        return
        yield


class SettingsPlugin(MoonlitePlugin):
    """Settings with defaults, persisted in moonlite's database and served over the API.

    Order at start-up: defaults and stored values are loaded, then `on_settings_migrate`
    (when the stored version is older than `get_settings_version`), `on_settings_cleanup`,
    `on_settings_initialized`.
    """

    config_version_key = PluginSettings.config_version_key

    def get_settings_defaults(self) -> dict[str, Any]:
        """The default settings (a nested dict)."""
        return {}

    def get_settings_preprocessors(self) -> tuple[Preprocessors, Preprocessors]:
        """(getter preprocessors, setter preprocessors): nested dicts of callables."""
        return {}, {}

    def get_settings_restricted_paths(self) -> Mapping[str, Sequence[Path]]:
        """Paths shown over the API only to some callers: keys "admin", "user", "never"."""
        return {}

    def get_settings_version(self) -> int | None:
        """The settings format version; None disables migrations."""
        return None

    def on_settings_migrate(self, target: int, current: int | None) -> None:
        """Migrate stored settings from version `current` (None: unknown) to `target`."""

    def on_settings_cleanup(self) -> None:
        """Drop stored values equal to the defaults (runs before on_settings_initialized)."""
        if self._settings is not None:
            self._settings.clean()

    def on_settings_initialized(self) -> None:
        """Called when the settings are loaded and migrated."""

    def on_settings_load(self) -> dict[str, Any]:
        """The settings as the API shows them (restricted paths are filtered afterwards)."""
        return self._settings.get_all_data() if self._settings is not None else {}

    def on_settings_save(self, data: dict[str, Any]) -> dict[str, Any]:
        """Apply settings received over the API; return what differs from the defaults."""
        if self._settings is None:
            return {}
        for parts, value in leaf_paths(data):
            self._settings.set(parts, value)
        return minimal_diff(self._settings.get_all_data(), self._settings.defaults)
