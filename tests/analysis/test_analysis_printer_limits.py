"""dump_config writes the connected printer's own limits (from its M503 report)."""

from __future__ import annotations

from pathlib import Path

from moonlite.testing import RpcClient, running_host, wait_printer_ready

CONFIG = """\
[printer]
[virtual_printer]
max_acceleration: 1234, 1234, 100, 5000
max_feedrate: 321, 321, 12, 120
[analysis]
"""


async def test_dump_config_uses_the_printers_m503_limits(tmp_path: Path) -> None:
    async with running_host(tmp_path / "data", CONFIG) as running:
        await wait_printer_ready(running.host)
        async with RpcClient.connect(running.ws_url) as client:
            defaults = (await client.call("server.analysis.dump_config")
                        )["klipper_estimator_config"]
            await client.call("printer.info")  # the first look asks the printer for M503
            printer = running.host.get_component("printer")
            assert printer is not None and any(
                "M201" in line for line in getattr(printer, "marlin_settings", []))
            dumped = (await client.call("server.analysis.dump_config")
                      )["klipper_estimator_config"]
        assert dumped != defaults
        text = repr(dumped)
        assert "1234" in text and "321" in text
