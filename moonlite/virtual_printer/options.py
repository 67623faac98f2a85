"""Every knob of the virtual Marlin printer: hardware, protocol options, timing, faults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class VirtualPrinterOptions(BaseModel):
    """Configuration of one simulated Marlin 2.x board.

    Times are in seconds. Simulated time (moves, dwells, heating, residency) is multiplied by
    `time_scale` to get real time (0 = instantaneous, 1 = real time). Periodic reports (M155,
    M154, M27 S, busy keepalive, the once-a-second lines of M109/M190) tick in real time
    multiplied by `interval_scale`, so tests can shorten them without touching the protocol.
    """

    model_config = ConfigDict(extra="forbid")

    # -- identity and hardware
    firmware_version: str = "2.1.2.4"
    machine_type: str = "Virtual Marlin"
    uuid: str = "cede2a2f-41a2-4748-9b12-c55c62f367ff"
    tools: Annotated[int, Field(ge=1, le=8)] = 1
    bed: bool = True
    chamber: bool = False
    volume: tuple[float, float, float] = (220.0, 220.0, 250.0)
    steps_per_mm: tuple[float, float, float, float] = (80.0, 80.0, 400.0, 93.0)
    max_feedrate: tuple[float, float, float, float] = (500.0, 500.0, 12.0, 120.0)
    max_acceleration: tuple[float, float, float, float] = (500.0, 500.0, 100.0, 5000.0)
    homing_feedrate: tuple[float, float, float] = (50.0, 50.0, 4.0)
    sd_dir: Path | None = None  # folder that plays the SD card; None = no card

    # -- protocol (compile options of the firmware)
    advanced_ok: bool = True
    report_advanced_ok_cap: bool = False  # real Marlin does not list it in M115
    ok_after_resend: bool = True  # Marlin 2.0.x at 012c1a4 sends no ok after Resend:
    ignore_duplicate_lines: bool = False  # newer builds ignore N == last_N / last_N - 1
    emergency_parser: bool = True
    extended_m20: bool = True
    quote_long_names: bool = False
    send_wait: bool = False  # NO_TIMEOUTS: "wait" every wait_interval when idle
    wait_interval: float = 1.0
    buffer_size: Annotated[int, Field(ge=1)] = 4  # BUFSIZE: command ring buffer slots
    planner_blocks: Annotated[int, Field(ge=2)] = 16  # BLOCK_BUFFER_SIZE (one kept free)
    rx_buffer_bytes: Annotated[int, Field(ge=16)] = 128  # RX_BUFFER_SIZE of the board
    drop_rx_overflow: bool = False  # bytes beyond the RX buffer are lost (no flow control)
    max_cmd_size: Annotated[int, Field(ge=8)] = 96
    reset_on_connect: bool = True  # DTR auto-reset: opening the link reboots the board
    boot_delay: float = 0.0  # real seconds between reset and the "start" banner
    record_limit: Annotated[int, Field(ge=100)] = 200_000  # lines kept in executed/received

    # -- timing
    baudrate: int | None = None  # None = no byte pacing on the link
    latency: float = 0.0  # one-way link latency, real seconds
    time_scale: Annotated[float, Field(ge=0.0)] = 0.0
    interval_scale: Annotated[float, Field(gt=0.0)] = 1.0
    busy_interval: float = 2.0  # DEFAULT_KEEPALIVE_INTERVAL; M113 S changes it
    ambient: float = 21.3
    heat_rate: float = 3.0  # hotend degrees per simulated second
    bed_heat_rate: float = 1.0
    cool_rate: float = 1.5
    temp_window: float = 1.0
    residency_time: float = 10.0  # simulated seconds within the window before M109/M190 end

    # -- fault injection (seeded, reproducible)
    seed: int = 0
    corrupt_rate: Rate = 0.0  # numbered lines failing their checksum
    drop_ok_rate: Rate = 0.0  # command "ok"s never sent
    busy_storm_rate: Rate = 0.0  # commands followed by a busy stall
    busy_storm_duration: float = 0.2  # real seconds a storm stalls
    busy_storm_interval: float = 0.02  # real seconds between busy lines in a storm
    reset_at_line: int | None = None  # reboot (banner, N reset) when this N arrives, once
    kill_at_line: int | None = None  # kill with kill_message when this N arrives, once
    kill_message: str = "Thermal Runaway, system stopped! Heater_ID: 0"
    disconnect_at_line: int | None = None  # drop the link when this N arrives, once

    @field_validator(
        "volume", "steps_per_mm", "max_feedrate", "max_acceleration", "homing_feedrate",
        mode="before",
    )
    @classmethod
    def _split_numbers(cls, value: Any) -> Any:
        # config files and the command line give "220, 220, 250"
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value
