"""moonlite.conf.sample stays true: it loads, and it lists every option of every section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from moonlite.components.analysis.component import AnalysisConfig
from moonlite.components.data_store import DataStoreConfig
from moonlite.components.event_hooks import EventHooksConfig, HookConfig
from moonlite.components.files.core import FileManagerConfig
from moonlite.components.machine import MachineConfig
from moonlite.components.plugins import PluginsConfig
from moonlite.components.printer.component import PrinterConfig, VirtualPrinterSection
from moonlite.components.webcams import WebcamConfig
from pydantic import BaseModel

from moonlite.auth import AuthorizationConfig
from moonlite.cli import check_config
from moonlite.server import ServerConfig

SAMPLE = Path(__file__).resolve().parents[2] / "moonlite.conf.sample"
MODELS: dict[str, type[BaseModel]] = {
    "server": ServerConfig, "authorization": AuthorizationConfig, "machine": MachineConfig,
    "webcam": WebcamConfig, "printer": PrinterConfig, "virtual_printer": VirtualPrinterSection,
    "file_manager": FileManagerConfig, "data_store": DataStoreConfig,
    "analysis": AnalysisConfig, "plugins": PluginsConfig, "event_hooks": EventHooksConfig,
    "event_hook": HookConfig,
}
HEADER = re.compile(r"^#?\s*\[([a-z_]+)[^\]]*\]\s*$")
OPTION = re.compile(r"^#?\s?([a-z_][a-z0-9_]*):")


def documented_options() -> dict[str, set[str]]:
    sections: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in SAMPLE.read_text().splitlines():
        header = HEADER.match(line)
        if header:
            current = sections.setdefault(header.group(1), set())
            continue
        option = OPTION.match(line)
        if option and current is not None:
            current.add(option.group(1))
    return sections


@pytest.mark.parametrize("section", sorted(MODELS))
def test_every_option_is_in_the_sample(section: str) -> None:
    documented = documented_options().get(section)
    assert documented is not None, f"[{section}] missing from moonlite.conf.sample"
    missing = set(MODELS[section].model_fields) - documented
    assert not missing, f"[{section}] options missing from the sample: {sorted(missing)}"
    unknown = documented - set(MODELS[section].model_fields)
    assert not unknown, f"[{section}] options in the sample that do not exist: {sorted(unknown)}"


def test_sample_passes_check_config() -> None:
    assert check_config(SAMPLE) == 0
