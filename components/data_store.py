"""`[data_store]`: 1 Hz temperature history and the G-code console store, as Moonraker has."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import Field

from moonlite.component import Component
from moonlite.config import SectionModel
from moonlite.rpc import api

#: fields recorded per sensor object, in Moonraker's plural names
RECORDED = {"temperature": "temperatures", "target": "targets", "power": "powers",
            "speed": "speeds"}


class DataStoreConfig(SectionModel):
    """The `[data_store]` section."""

    temperature_store_size: int = Field(1200, ge=1, description="samples (seconds) kept")
    gcode_store_size: int = Field(1000, ge=1, description="console entries kept")


class DataStore(Component):
    """Keeps what the frontends draw: temperature charts and the console history."""

    name = "data_store"
    Config = DataStoreConfig
    requires = ("printer",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.temperatures: dict[str, dict[str, deque[float]]] = {}
        self.gcode_store: deque[dict[str, Any]] = deque(maxlen=self.config.gcode_store_size)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Sample sensors once a second while running."""
        task = asyncio.create_task(self._sampler())
        try:
            yield
        finally:
            task.cancel()

    def add_gcode(self, message: str, kind: Literal["command", "response"]) -> None:
        """Record a console entry (the printer component calls this)."""
        self.gcode_store.append({"message": message, "time": time.time(), "type": kind})

    @staticmethod
    def _sensors(printer: Any) -> list[str]:
        heaters = printer.status.objects.get("heaters", {})
        sensors: list[str] = list(heaters.get("available_sensors", []))
        monitors: list[str] = list(heaters.get("available_monitors", []))
        return sensors + [m for m in monitors if m not in sensors]

    def sample(self) -> None:
        """Take one sample of every sensor (once a second)."""
        printer: Any = self.host.get_component("printer")
        if printer is None:
            return
        size = self.config.temperature_store_size
        for name in self._sensors(printer):
            obj = printer.status.objects.get(name)
            if obj is None:
                continue
            series = self.temperatures.get(name)
            if series is None:
                series = self.temperatures[name] = {
                    plural: deque([0.0] * size, maxlen=size)
                    for field, plural in RECORDED.items() if field in obj}
            for field, plural in RECORDED.items():
                if plural in series:
                    value = obj.get(field)
                    series[plural].append(round(float(value), 2) if value is not None else 0.0)

    async def _sampler(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.sample()

    @api("server.temperature_store")
    async def temperature_store(self, include_monitors: bool = False) -> dict[str, Any]:
        """Per-sensor history: temperatures, targets, powers (and speeds), one per second."""
        return {name: {plural: list(values) for plural, values in series.items()}
                for name, series in self.temperatures.items()}

    @api("server.gcode_store")
    async def gcode_store_items(self, count: int = 1000) -> dict[str, Any]:
        """The last `count` console entries (commands sent and responses received)."""
        items = list(self.gcode_store)
        return {"gcode_store": items[-count:] if count > 0 else []}


COMPONENT = DataStore
