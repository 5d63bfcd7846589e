"""What the NATS client says while a server is away: each problem once every 10 s."""

from __future__ import annotations

import logging

import pytest

from agentdash.nats_client import LOG_EVERY_S, Repeats
from tests.support import FakeClock


def test_a_problem_that_recurs_is_said_once_every_10_s_with_how_often(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "agentdash.nats")
    repeats = Repeats(clock=clock)
    assert LOG_EVERY_S == 10
    for _ in range(20):  # two reconnection attempts a second, for 10 s
        repeats.warn("Connect call failed")
        clock.advance(0.5)
    repeats.warn("unexpected EOF")  # another problem is said at once
    repeats.warn("Connect call failed")
    repeats.clear()  # connected again: the next outage is said at once
    repeats.warn("Connect call failed")
    assert [r.getMessage() for r in caplog.records] == [
        "NATS: Connect call failed",
        "NATS: unexpected EOF",
        "NATS: Connect call failed (and 19 times more in the last 10 s)",
        "NATS: Connect call failed",
    ]
