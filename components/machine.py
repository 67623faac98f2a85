"""`[machine]`: system information and process statistics (`notify_proc_stat_update`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import socket
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import psutil

from moonlite.component import Component
from moonlite.config import SectionModel
from moonlite.rpc import api

STATS_KEPT = 30


class MachineConfig(SectionModel):
    """The `[machine]` section."""

    provider: str = "none"
    proc_stats_interval: float = 1.0


class Machine(Component):
    """The host machine as Moonraker describes it, without touching systemd or dbus."""

    name = "machine"
    Config = MachineConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.process = psutil.Process()
        self.samples: deque[dict[str, Any]] = deque(maxlen=STATS_KEPT)
        self._last_net: dict[str, tuple[float, int]] = {}

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Sample process statistics every second while running."""
        self.process.cpu_percent(None)
        psutil.cpu_percent(None, percpu=True)
        task = asyncio.create_task(self._sampler())
        try:
            yield
        finally:
            task.cancel()

    async def _sampler(self) -> None:
        while True:
            await asyncio.sleep(self.config.proc_stats_interval)
            sample = self._process_sample()
            self.samples.append(sample)
            # the system-wide figures read /proc and /sys: a worker's job, not the loop's
            stats = await self.host.run_in_thread(self._system_stats)
            self.host.notify("notify_proc_stat_update", {"moonraker_stats": sample, **stats})

    def _process_sample(self) -> dict[str, Any]:
        return {"time": time.time(), "cpu_usage": round(self.process.cpu_percent(None), 2),
                "memory": self.process.memory_info().rss // 1024, "mem_units": "kB"}

    def _system_stats(self) -> dict[str, Any]:
        vm = psutil.virtual_memory()
        return {
            "cpu_temp": self._cpu_temp(),
            "network": self._network(),
            "system_cpu_usage": self._cpu_usage(),
            "system_memory": {"total": vm.total // 1024, "available": vm.available // 1024,
                              "used": (vm.total - vm.available) // 1024},
            "websocket_connections": len(self.host.websockets),
        }

    @staticmethod
    def _cpu_temp() -> float | None:
        with contextlib.suppress(AttributeError, OSError):
            temps = psutil.sensors_temperatures()
            for entries in temps.values():
                if entries:
                    return round(entries[0].current, 2)
        return None

    @staticmethod
    def _cpu_usage() -> dict[str, float]:
        per_cpu = psutil.cpu_percent(None, percpu=True)
        usage = {"cpu": round(sum(per_cpu) / max(len(per_cpu), 1), 2)}
        usage.update({f"cpu{i}": round(v, 2) for i, v in enumerate(per_cpu)})
        return usage

    def _network(self) -> dict[str, Any]:
        now = time.monotonic()
        result: dict[str, Any] = {}
        for iface, c in psutil.net_io_counters(pernic=True).items():
            total = c.bytes_recv + c.bytes_sent
            last = self._last_net.get(iface)
            bandwidth = 0.0
            if last and now > last[0]:
                bandwidth = round((total - last[1]) / (now - last[0]), 2)
            self._last_net[iface] = (now, total)
            result[iface] = {"rx_bytes": c.bytes_recv, "tx_bytes": c.bytes_sent,
                             "rx_packets": c.packets_recv, "tx_packets": c.packets_sent,
                             "rx_errs": c.errin, "tx_errs": c.errout, "rx_drop": c.dropin,
                             "tx_drop": c.dropout, "bandwidth": bandwidth}
        return result

    @api("machine.proc_stats")
    async def proc_stats(self) -> dict[str, Any]:
        """Recent process statistics and the system's CPU, memory and network use."""
        # a read adds nothing to the sampler's history
        current = await self.host.run_in_thread(self._system_stats)
        return {
            "moonraker_stats": list(self.samples),
            "throttled_state": {"bits": 0, "flags": []},
            **current,
            "system_uptime": round(time.time() - psutil.boot_time(), 2),
        }

    @api("machine.system_info")
    async def system_info(self) -> dict[str, Any]:
        """The host machine: CPU, distribution, network, services."""
        return {"system_info": await self.host.run_in_thread(self._system_info)}

    def _system_info(self) -> dict[str, Any]:
        uname = platform.uname()
        vi = sys.version_info
        dist = _os_release()
        version = dist.get("VERSION_ID", "")
        parts = [*version.split("."), "", "", ""][:3]
        return {
            "python": {"version": [vi.major, vi.minor, vi.micro, vi.releaselevel, vi.serial],
                       "version_string": sys.version.replace("\n", " ")},
            "cpu_info": {
                "cpu_count": os.cpu_count(), "bits": platform.architecture()[0],
                "processor": uname.machine, "cpu_desc": _cpu_desc(), "serial_number": "",
                "hardware_desc": "", "model": "",
                "total_memory": psutil.virtual_memory().total // 1024, "memory_units": "kB"},
            "sd_info": {},
            "distribution": {
                "name": dist.get("PRETTY_NAME", uname.system), "id": dist.get("ID", ""),
                "version": version,
                "version_parts": {"major": parts[0], "minor": parts[1], "build_number": parts[2]},
                "like": dist.get("ID_LIKE", ""), "codename": dist.get("VERSION_CODENAME", ""),
                "release_info": {}, "kernel_version": uname.release},
            "virtualization": {"virt_type": "none", "virt_identifier": "none"},
            "network": _interfaces(),
            "canbus": {},
            "provider": self.config.provider,
            "available_services": [],
            "service_state": {},
            "instance_ids": {"moonraker": "moonlite", "klipper": "moonlite"},
        }


def _os_release() -> dict[str, str]:
    result: dict[str, str] = {}
    with contextlib.suppress(OSError):
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep:
                    result[key] = value.strip('"')
    return result


def _cpu_desc() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor()


def _interfaces() -> dict[str, Any]:
    result: dict[str, Any] = {}
    for iface, addrs in psutil.net_if_addrs().items():
        if iface == "lo":
            continue
        mac = ""
        ips = []
        for addr in addrs:
            if addr.family == psutil.AF_LINK:
                mac = addr.address
            elif addr.family in (socket.AF_INET, socket.AF_INET6):
                family = "ipv4" if addr.family == socket.AF_INET else "ipv6"
                ips.append({"family": family, "address": addr.address.split("%")[0],
                            "is_link_local": addr.address.startswith("fe80")})
        result[iface] = {"mac_address": mac, "ip_addresses": ips}
    return result


COMPONENT = Machine
