"""What the NATS client says while a server is away: each problem once every 10 s; and the
one line for a server never reached, with the reason rather than the deadline."""

from __future__ import annotations

import asyncio
import logging
import socket

import nats.errors
import pytest

from agentdash.errors import StartError
from agentdash.nats_client import LOG_EVERY_S, Repeats, connect_nats, unreached_reason
from tests.support import FakeClock, free_port


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
    repeats.warn("Connect call failed")
    clock.advance(10)
    repeats.warn("Connect call failed")
    assert [r.getMessage() for r in caplog.records] == [
        "NATS: Connect call failed",
        "NATS: unexpected EOF",
        "NATS: Connect call failed (and 19 times more in the last 10 s)",
        "NATS: Connect call failed (and once more in the last 10 s)",
    ]


def test_a_connection_cut_again_and_again_is_said_once_every_10_s_with_how_often(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A producer publishing 1 MB tasks faster than the daemon reads them gets the tasks'
    connection cut as a slow consumer every second or two, and it reconnects at once: each cut
    and each return was said, about 80 lines a minute for as long as the flood lasted, by an
    identity agentdash does not trust. Both are said once every 10 s, with how often."""
    caplog.set_level(logging.INFO, "agentdash.nats")
    repeats = Repeats(clock=clock, name="NATS (tasks)")
    for _ in range(20):  # cut every 1.5 s for 30 s, connected again 0.5 s later
        repeats.warn("nats: unexpected EOF")
        clock.advance(0.5)
        repeats.back()
        clock.advance(1.0)
    said = [r.getMessage() for r in caplog.records]
    assert said[:2] == ["NATS (tasks): nats: unexpected EOF", "NATS (tasks): connected again"]
    assert len(said) <= 2 * 4, said  # at most one of each every 10 s
    assert "NATS (tasks): connected again (and 6 times more in the last 10 s)" in said


async def test_a_refused_connection_is_said_at_the_refusal_not_after_the_wait() -> None:
    """Nothing listens on the port: nats.py would retry it until the deadline, and the line
    said 'TimeoutError'. Given an hour, it must not wait it out; the bound is loose (a
    refusal takes milliseconds), so a slow machine does not fail it."""
    url = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(StartError) as caught:
        await asyncio.wait_for(connect_nats(url, timeout=3600.0), timeout=60.0)
    assert str(caught.value) == f"cannot reach NATS at {url}: Connection refused"


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)"),
         "Connection refused"),
        # localhost as ::1 and 127.0.0.1, both refused: asyncio's plain OSError lists them
        (OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 1, 0, 0), "
                 "[Errno 111] Connect call failed ('127.0.0.1', 1)"), "Connection refused"),
        (OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 1, 0, 0), "
                 "[Errno 113] Connect call failed ('10.0.0.9', 1)"),
         "Multiple exceptions: [Errno 111] Connect call failed ('::1', 1, 0, 0), "
         "[Errno 113] Connect call failed ('10.0.0.9', 1)"),
        (socket.gaierror(-2, "Name or service not known"),
         "the host does not resolve (Name or service not known)"),
        (TimeoutError(), "no answer within 5 s"),
        (nats.errors.TimeoutError(), "no answer within 5 s"),
        (None, "no answer within 5 s"),
        (nats.errors.UnexpectedEOF(), "UnexpectedEOF nats: unexpected EOF"),
    ],
)  # fmt: skip
def test_why_nats_was_not_reached_is_in_words(error: BaseException | None, said: str) -> None:
    assert unreached_reason(error, 5.0) == said
