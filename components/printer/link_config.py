"""Settings of the printer link (OctoPrint's serial defaults) and what it learnt of the firmware."""

from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass
class LinkConfig:
    """Protocol settings; times in seconds. Defaults follow OctoPrint 1.11's `serial.*`."""

    #: number and checksum every line ("always") or only while a job streams ("printing")
    checksum: Literal["always", "printing"] = "always"
    #: sent lines kept for resend requests
    history_size: int = 200
    #: use ADVANCED_OK (`ok N P B`) to keep several lines in flight when the firmware has it
    pipelining: bool = True
    #: firmware receive buffer in bytes: the bound for unacknowledged bytes not yet queued
    rx_buffer_size: int = 128
    #: hard cap on lines in flight with ADVANCED_OK
    max_inflight: int = 16
    #: commands waiting for the wire beyond this many fail with `QueueFull` (memory bound)
    max_queued_commands: int = 1000
    #: while the planner has room and no blocking command is in flight, count the oldest
    #: (buffer size - 1) lines in flight as already moved out of the RX buffer (Marlin does so
    #: between commands); off: only the lines ADVANCED_OK reports as buffered
    optimistic_rx: bool = True
    #: handshake: seconds to wait for an answer to each hello, and how many hellos
    timeout_connection: float = 10.0
    hello_attempts: int = 3
    #: no `ok` for this long (with lines in flight) is a timeout
    timeout_communication: float = 30.0
    #: the same once the firmware speaks the busy protocol (`echo:busy:` keepalives)
    timeout_communication_busy: float = 3.0
    #: wait this long for the `ok` some firmwares send after `Resend:` (first resend only)
    timeout_resend_ok: float = 0.5
    #: after a repeated `Resend:` (whose flush may have eaten our resent line): resend again
    #: when the line is not acknowledged within this time
    timeout_resend_check: float = 0.5
    #: consecutive timeouts tolerated: idle, while printing, during long-running commands
    max_timeouts_idle: int = 2
    max_timeouts_printing: int = 5
    max_timeouts_long: int = 5
    #: resend requests for the same line before giving up
    max_consecutive_resends: int = 10
    #: the firmware's line buffer (Marlin's MAX_CMD_SIZE); longer lines are refused
    max_line_length: int = 96
    #: autoreport intervals (M155 S, M154 S, M27 S); 0 disables that autoreport
    temperature_autoreport: int = 2
    position_autoreport: int = 5
    sd_status_autoreport: int = 1
    #: M105 polling interval when the firmware has no temperature autoreport; 0 disables it
    temperature_poll: float = 5.0
    #: on a fatal firmware error: send M112 and heaters off, then close the link
    send_m112_on_error: bool = True
    #: treat every unclassified `Error:` as fatal (OctoPrint's disconnectOnErrors)
    disconnect_on_errors: bool = True


@dataclasses.dataclass
class FirmwareInfo:
    """What the firmware told us: M115 fields and capabilities, and detected protocol features."""

    fields: dict[str, str] = dataclasses.field(default_factory=dict)
    capabilities: dict[str, bool] = dataclasses.field(default_factory=dict)
    #: `ok` lines carry `P<planner> B<buffer>` (and `N<line>` for numbered lines)
    advanced_ok: bool = False
    #: the firmware sends `busy:` keepalives
    busy_protocol: bool = False
    #: the firmware sends an `ok` after `Resend:` (None: not seen a resend yet)
    ok_after_resend: bool | None = None
    #: largest command-buffer size implied by ADVANCED_OK (`max(B) + 1`)
    buffer_size: int = 1

    @property
    def name(self) -> str:
        """`FIRMWARE_NAME` from M115 ('' before M115 answered)."""
        return self.fields.get("FIRMWARE_NAME", "")

    def has(self, capability: str) -> bool:
        """Whether M115 reported `Cap:<capability>:1` (absent means no)."""
        return self.capabilities.get(capability, False)

    @property
    def extruder_count(self) -> int:
        """`EXTRUDER_COUNT` from M115 (1 when not reported)."""
        try:
            return max(1, int(self.fields.get("EXTRUDER_COUNT", "1")))
        except ValueError:
            return 1
