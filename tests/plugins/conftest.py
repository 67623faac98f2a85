"""Plugin test fixtures: the example plugins installed through their real entry points, and
a host that loads them (loopback untrusted, so credentials matter)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import shutil
import site
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from moonlite.plugins.manager import PluginManager
from moonlite.testing import RunningHost, running_host

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "plugins"
DISTRIBUTION = "moonlite-example-plugins"
FOLDER_PLUGINS = Path(__file__).resolve().parent / "folder_plugins"

BASE_CONFIG = """
[authorization]
trusted_clients: 10.0.0.0/8
"""


def _declared_entry_points() -> set[str]:
    project = tomllib.loads((EXAMPLES / "pyproject.toml").read_text())["project"]
    return set(project["entry-points"]["moonlite.plugins"])


def _installed_entry_points() -> set[str] | None:
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    return {ep.name for ep in dist.entry_points if ep.group == "moonlite.plugins"}


def _can_build_offline() -> bool:
    """Whether the environment's setuptools can build an editable wheel by itself
    (>= 70.1, or >= 64 with `wheel`); otherwise pip fetches the build tools from PyPI."""
    try:
        import setuptools
    except ImportError:
        return False
    major, minor = (int(p) for p in setuptools.__version__.split(".")[:2])
    if (major, minor) >= (70, 1):
        return True
    return major >= 64 and importlib.util.find_spec("wheel") is not None


def _pip_install() -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(EXAMPLES)]
    if _can_build_offline():
        cmd.insert(-2, "--no-build-isolation")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"installing the example plugins failed:\n{result.stderr}"


@pytest.fixture(scope="session", autouse=True)
def example_plugins_installed() -> None:
    """Install examples/plugins into this interpreter's environment (editable) when it is
    missing or declares other entry points, so that importlib.metadata finds them."""
    if _installed_entry_points() != _declared_entry_points():
        _pip_install()
        # the new .pth file of the editable install is not read by a running interpreter
        site.addsitedir(sysconfig.get_paths()["purelib"])
        importlib.invalidate_caches()
    if importlib.util.find_spec("moonlite_example_plugins") is None:
        sys.path.insert(0, str(EXAMPLES))
        importlib.invalidate_caches()
    assert _installed_entry_points() == _declared_entry_points()


def plugin_manager(running: RunningHost) -> PluginManager:
    """The plugin manager of a running host."""
    manager = getattr(running.host.components["plugins"], "manager", None)
    assert isinstance(manager, PluginManager)
    return manager


def api_key_headers(running: RunningHost) -> dict[str, str]:
    """Headers that authenticate with the host's API key."""
    return {"X-Api-Key": running.host.auth.api_key}


@contextlib.asynccontextmanager
async def plugin_host(data_dir: Path, extra_config: str = "", *,
                      folder_plugins: tuple[str, ...] = (), base: str = BASE_CONFIG
                      ) -> AsyncIterator[RunningHost]:
    """A host with the example plugins (and `folder_plugins` copied into <data>/plugins)."""
    plugins_dir = data_dir / "plugins"
    plugins_dir.mkdir(parents=True, exist_ok=True)
    for name in folder_plugins:
        source = FOLDER_PLUGINS / name
        if source.is_dir():
            shutil.copytree(source, plugins_dir / name, dirs_exist_ok=True)
        else:
            shutil.copy(source, plugins_dir / name)
    async with running_host(data_dir, base + extra_config) as running:
        await plugin_manager(running).after_startup_done.wait()
        yield running


def trace(running: RunningHost) -> list[tuple[str, str]]:
    """(plugin, hook) of every example trace event fired so far."""
    return [(p["plugin"], p["hook"]) for _, name, p in running.host.events.history
            if name == "plugin_example_trace"]


def get_plugin(running: RunningHost, identifier: str) -> Any:
    """The running implementation of `identifier`."""
    plugin = plugin_manager(running).get_plugin(identifier)
    assert plugin is not None, f"plugin {identifier} is not running"
    return plugin
