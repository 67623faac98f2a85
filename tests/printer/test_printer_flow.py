"""LineFlow: numbering, ADVANCED_OK credits, ok reconciliation and resend bookkeeping."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from moonlite.components.printer.flow import LineFlow, ResendOutcome
from moonlite.components.printer.framing import checksum, frame


def _send(flow: LineFlow, *commands: str) -> list[int]:
    numbers = []
    for command in commands:
        sent = flow.numbered(command)
        flow.push(sent)
        numbers.append(sent.n)
    return numbers


def test_frame_matches_reference_examples() -> None:
    assert frame(0, "M110 N0") == b"N0 M110 N0*125\n"
    assert frame(1, "M115") == b"N1 M115*39\n"
    assert frame(3, "G28") == b"N3 G28*16\n"
    assert frame(5, "M155 S1") == b"N5 M155 S1*101\n"
    assert checksum(b"N1 M140 S0") == 100


def test_plain_ok_pings_one_line_at_a_time() -> None:
    flow = LineFlow()
    assert flow.room_for(20)
    _send(flow, "G28")
    assert not flow.room_for(20)  # no ADVANCED_OK: exactly one in flight
    done = flow.ack(None, None)
    assert [s.n for s in done] == [1]
    assert flow.room_for(20)


def test_advanced_ok_opens_window_within_rx_bytes() -> None:
    flow = LineFlow(rx_limit=40, max_lines=16)
    _send(flow, "G1 X1")
    assert not flow.room_for(10)  # before the first ADVANCED_OK: one line in flight
    flow.ack(1, 3, 15)  # idle printer, 4-slot buffer: B3, planner with room: P15
    assert flow.buffer_size == 4 and flow.window == 2
    _send(flow, "G1 X2", "G1 X3")
    assert not flow.room_for(10)  # window of 2 is full
    flow.ack(2, 3, 15)
    flow.window = 16  # (grown by later acks)
    # lines 3..5 go to free command-buffer slots; bytes beyond them wait in the RX buffer
    _send(flow, "G1 X4", "G1 X5")
    assert flow.rx_bytes() == 0
    line = len(frame(6, "G1 X6"))
    _send(flow, "G1 X6", "G1 X7", "G1 X8")
    assert flow.rx_bytes() == 3 * line
    assert flow.room_for(40 - 3 * line) and not flow.room_for(40 - 3 * line + 1)
    # planner full (P0), buffer full (B0): only the 3 lines after line 3 are known buffered
    flow.ack(3, 0, 0)
    assert [s.n for s in flow.inflight] == [4, 5, 6, 7, 8]
    assert flow.rx_bytes() == 2 * line


def test_blocking_lines_count_against_the_rx_buffer() -> None:
    flow = LineFlow(rx_limit=64, max_lines=16)
    _send(flow, "G1 X1")
    flow.ack(1, 3, 15)
    flow.window = 16
    home = flow.numbered("G28", long=True)
    flow.push(home)
    _send(flow, "G1 X2", "G1 X3")
    # G28 keeps the firmware from reading: nothing counts as buffered until an ok says so
    assert flow.rx_bytes() == flow.inflight_bytes
    assert [s.n for s in flow.ack(2, 2, 15)] == [2]
    assert flow.blocking == 0 and flow.rx_bytes() == 0


def test_ok_with_line_number_reconciles_lost_oks_and_ignores_stale() -> None:
    flow = LineFlow()
    flow.window = flow.max_window = 8
    _send(flow, "G1 X1", "G1 X2", "G1 X3")
    done = flow.ack(2, 2)  # the ok for line 1 was lost
    assert [s.n for s in done] == [1, 2]
    assert flow.ack(2, 2) == []  # duplicate / stale
    assert [s.n for s in flow.inflight] == [3]


def test_resend_rewinds_and_counts_duplicates() -> None:
    flow = LineFlow()
    flow.window = flow.max_window = 8
    _send(flow, "G1 X1", "G1 X2", "G1 X3", "G1 X4")
    flow.ack(1, 3)
    assert flow.request_resend(2, after_line_number_error=False) is ResendOutcome.STARTED
    assert list(flow.inflight) == [] and flow.window == 1
    # lines 3 and 4 were in transit: each may trigger a repeat of the request
    assert flow.request_resend(2, after_line_number_error=True) is ResendOutcome.DUPLICATE
    assert flow.request_resend(2, after_line_number_error=True) is ResendOutcome.DUPLICATE
    resent = []
    while (sent := flow.next_resend()) is not None:
        resent.append(sent.data)
    assert resent == [frame(2, "G1 X2"), frame(3, "G1 X3"), frame(4, "G1 X4")]
    assert not flow.resending
    assert flow.request_resend(5, after_line_number_error=False) is ResendOutcome.NOTHING


def test_resend_loop_and_missing_history() -> None:
    flow = LineFlow(history_size=3, max_consecutive_resends=2)
    _send(flow, "A", "B", "C", "D", "E")
    assert flow.request_resend(1, False) is ResendOutcome.NO_HISTORY
    flow2 = LineFlow(max_consecutive_resends=2)
    _send(flow2, "A", "B")
    assert flow2.request_resend(1, False) is ResendOutcome.STARTED
    assert flow2.request_resend(1, False) is ResendOutcome.STARTED
    assert flow2.request_resend(1, False) is ResendOutcome.LOOP


def test_swallowed_oks_and_m110_reset() -> None:
    flow = LineFlow()
    _send(flow, "G28")
    flow.swallow_oks = 1
    assert flow.ack(None, None) == []
    assert [s.n for s in flow.ack(None, None)] == [1]
    flow.reset_numbering(1)
    assert flow.numbered("M105").data == frame(1, "M105")


@given(st.lists(st.tuples(st.sampled_from("sarnpo"), st.integers(0, 40)), max_size=200))
def test_bookkeeping_invariants_hold_for_any_sequence(ops: list[tuple[str, int]]) -> None:
    flow = LineFlow(history_size=30, rx_limit=96, max_lines=8)
    for op, value in ops:
        if op == "s" and flow.room_for(20) and not flow.resending:
            flow.push(flow.numbered(f"G1 X{value}", blocks=value % 7 == 0))
        elif op == "r" and flow.resending and flow.room_for(0):
            sent = flow.next_resend()
            assert sent is not None
            flow.push(sent)
        elif op == "a":
            flow.ack(flow.next_line - 1 - value % 5, value % 4, value % 17)
        elif op == "p":
            flow.ack(None, None)
        elif op == "n":
            flow.request_resend(flow.next_line - 1 - value % 8, value % 2 == 0, value % 3 == 0)
        elif op == "o":
            flow.pop_oldest()
        numbers = [s.n for s in flow.inflight]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
        assert flow.inflight_bytes == sum(s.size for s in flow.inflight)
        assert flow.blocking == sum(1 for s in flow.inflight if s.blocks)
        assert 0 <= flow.rx_bytes() <= flow.inflight_bytes
        assert 1 <= flow.window <= max(flow.max_window, 1)
        if flow.resending:
            assert flow.next_line - len(flow.history) <= flow.resend_next < flow.resend_end
        assert all(s.n < flow.next_line for s in flow.inflight)
