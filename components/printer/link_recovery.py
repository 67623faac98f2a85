"""Recovery on the wire: resend requests, the ok after `Resend:`, `wait`, `busy:`, timeouts."""

from __future__ import annotations

import asyncio
import logging

from . import parser
from .command import ignore_result
from .flow import ResendOutcome
from .link_lifecycle import LinkLifecycle
from .state import JOB_STATES

log = logging.getLogger("moonlite.components.printer.protocol")


class LinkRecovery(LinkLifecycle):
    """Resends, busy/wait and the timeout watchdog (see `MarlinProtocol`)."""

    def _on_resend(self, line_number: int) -> None:
        flow = self._flow
        # only a line-number error can be a repeat caused by lines already in transit
        after_lineno = (
            self._last_error_kind is parser.ErrorKind.COMMUNICATION and self._lineno_error
        )
        outcome = flow.request_resend(line_number, after_lineno, self.firmware.advanced_ok)
        self._last_error_kind = None
        self._lineno_error = False
        if outcome is ResendOutcome.STARTED:
            for sent in flow.dropped:
                self._complete(sent)
            ok_after = self.firmware.ok_after_resend
            if ok_after is None and not flow.inflight and not self.firmware.advanced_ok:
                # learn whether this firmware sends an ok after Resend: (Marlin 1.x) or not
                loop = asyncio.get_running_loop()
                self._resend_hold = loop.call_later(
                    self.config.timeout_resend_ok, self._resend_ok_timeout
                )
            elif ok_after and not self.firmware.advanced_ok:
                flow.swallow_oks += 1
            self._wake.set()
        elif outcome is ResendOutcome.DUPLICATE:
            if self.firmware.ok_after_resend and not self.firmware.advanced_ok:
                flow.swallow_oks += 1
            if flow.resend_next > line_number:
                # the flush that came with this repeat may have eaten the copy we resent
                if self._resend_check is not None:
                    self._resend_check.cancel()
                self._resend_check = asyncio.get_running_loop().call_later(
                    self.config.timeout_resend_check, self._check_resend, line_number
                )
        elif outcome is ResendOutcome.LOOP:
            self._give_up(f"resend loop: line {line_number} requested too often")
        elif outcome is ResendOutcome.NO_HISTORY:
            message = f"Should resend line {line_number} but no sufficient history is available"
            if self._job is not None:
                self._give_up(message)
            else:
                log.warning(message)

    def _check_resend(self, line_number: int) -> None:
        """Our resent line was not acknowledged in time: send it (and what follows) again."""
        self._resend_check = None
        flow = self._flow
        base = flow.next_line - len(flow.history)
        if flow.highest_acked < line_number and base <= line_number < flow.next_line:
            flow.rewind(line_number, self.firmware.advanced_ok)
            flow.forget_duplicates()
            for sent in flow.dropped:
                self._complete(sent)
            self._wake.set()

    def _resend_ok_timeout(self) -> None:
        if self._resend_hold is not None:
            self.firmware.ok_after_resend = False
            self._release_resend()

    def _release_resend(self) -> None:
        if self._resend_hold is not None:
            self._resend_hold.cancel()
            self._resend_hold = None
        self._wake.set()

    def _on_wait(self) -> None:
        if self._hello is not None:
            if not self._hello.done():
                self._hello.set_result(None)
            return
        # Marlin idles with an empty buffer: while streaming, that is as good as an ok
        if self._job is not None and self._flow.inflight:
            self._on_ok("ok")

    def _on_busy(self) -> None:
        self._last_busy = self._last_rx
        if not self.firmware.busy_protocol:
            self.firmware.busy_protocol = True
            interval = max(int(self.config.timeout_communication_busy) - 1, 1)
            self.send(f"M113 S{interval}").add_done_callback(ignore_result)

    def _comm_timeout(self) -> float:
        cfg = self.config
        if self.firmware.busy_protocol:
            return cfg.timeout_communication_busy
        return cfg.timeout_communication

    async def _watchdog(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            timeout = self._comm_timeout()
            flow = self._flow
            if self._hello is not None:
                await asyncio.sleep(timeout / 4)  # the handshake has its own timeouts
                continue
            if flow.inflight:
                head = flow.inflight[0]
                if head.long and not self.firmware.busy_protocol:
                    # no keepalives: a long command may take as long as it takes
                    self._ok_clock = now
                deadline = max(self._ok_clock, self._last_busy) + timeout
            else:
                poll = self.config.temperature_autoreport or self.config.temperature_poll
                deadline = self._last_rx + max(timeout, poll + 1)
            if now < deadline:
                # re-check at least every quarter timeout: lines may go out meanwhile
                await asyncio.sleep(min(deadline - now, timeout / 4))
                continue
            if not self._on_timeout():
                return

    def _on_timeout(self) -> bool:
        """Recover from a timeout; False when the link gives up."""
        flow = self._flow
        cfg = self.config
        self._timeouts += 1
        if not flow.inflight:
            limit = cfg.max_timeouts_idle
        elif flow.inflight[0].long:
            limit = cfg.max_timeouts_long
        elif self.machine.state in JOB_STATES:
            limit = cfg.max_timeouts_printing
        else:
            limit = cfg.max_timeouts_idle
        if self._timeouts > limit:
            self._give_up("Too many consecutive timeouts, printer still connected and alive?")
            return False
        log.info("printer communication timeout %d/%d", self._timeouts, limit)
        now = asyncio.get_running_loop().time()
        self._ok_clock = self._last_rx = now
        flow.shrink()
        flow.forget_duplicates()
        self._release_resend()
        if flow.inflight and not self.firmware.advanced_ok:
            # one line in flight and its ok lost: take it as acknowledged
            sent = flow.pop_oldest()
            if sent is not None:
                self._complete(sent)
            if not flow.inflight:
                self._drained.set()
        if not self._queue and (self._job is None or self._job.halted):
            self._probe = True
        elif self.firmware.advanced_ok:
            self._probe = True
        self._wake.set()
        return True
