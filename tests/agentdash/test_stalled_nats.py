"""agentdash.stalled_nats on a real nats-server stalled (SIGSTOP: its connection open, nothing
answered) and let go on (SIGCONT): the first answer after a question left unanswered ticks the
loop, once; the loop need not wait for its backoff, as a stall ends with no reconnection."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from agentdash.stalled_nats import tick_when_nats_answers_again
from tests.support import eventually
from tests.support.processes import stalled

pytestmark = pytest.mark.e2e

ASK_WAITS_S = 0.5
"""How long each question waits for its answer (the daemon's: 1 s)."""


class Questions:
    """The questioner's sleep, injected: it asks its next question when the test says so,
    never after a wait of its own."""

    def __init__(self) -> None:
        self.slept = 0
        """How often the questioner went to sleep: once more after each question's outcome."""
        self._next = asyncio.Semaphore(0)

    async def sleep(self, _seconds: float) -> None:
        self.slept += 1
        await self._next.acquire()

    async def ask(self) -> None:
        """Let one question be asked, and wait until the questioner has taken in its outcome."""
        before = self.slept
        self._next.release()
        await eventually(lambda: self.slept > before, timeout=30, every=0.01)


async def test_nats_answering_after_a_stall_ticks_the_loop_once(
    nats_server: NatsServer, nc: Client
) -> None:
    questions = Questions()
    backs: list[int] = []
    asking = asyncio.create_task(
        tick_when_nats_answers_again(
            nc,
            failing=lambda: True,  # the queues cannot be read
            back=lambda: backs.append(1),
            every=ASK_WAITS_S,
            sleep=questions.sleep,
        )
    )
    try:
        await eventually(lambda: questions.slept == 1, timeout=30)
        await questions.ask()
        assert backs == []  # answered, and nothing was left unanswered before
        with stalled(nats_server):
            await questions.ask()
            await questions.ask()
            assert backs == []  # no answer: nothing to tick for
        await questions.ask()
        assert backs == [1]  # the first answer after the stall
        await questions.ask()
        assert backs == [1]  # and only that one
        assert nc.is_connected
    finally:
        asking.cancel()
        await asyncio.gather(asking, return_exceptions=True)
