"""The leader's handovers at the end of a tick (controller.runtime.succession)."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.core.engine import Engine
from controller.runtime.succession import Succession
from tests.support.factories import config, pool


class StalledSave:
    """A handover whose save waits for NATS until `answer` is set, as one whose NATS does not
    answer waits out its timeout."""

    def __init__(self, answer: asyncio.Event) -> None:
        self.answer = answer
        self.started = False

    async def save(self, *_: Any) -> None:
        self.started = True
        await self.answer.wait()

    def follow(self, *_: Any) -> None:
        """A follower's read of the leader's count: no write."""


async def test_the_three_saves_wait_side_by_side_not_one_after_the_other() -> None:
    """After a NATS restart each save waited its 2 s timeout (and made its bucket again), one
    after the other: the tick, and the scale calls after it, waited for all three."""
    answer = asyncio.Event()
    saves = [StalledSave(answer) for _ in range(3)]
    engine = Engine(config({"a": pool("t")}))
    succession = Succession(
        engine, handover=saves[0], spend_handover=saves[1], usage_handover=saves[2]
    )
    handing_on = asyncio.create_task(succession.hand_on(True, 0.0))
    for _ in range(100):  # a few turns of the loop start all three, if they go side by side
        if all(save.started for save in saves):
            break
        await asyncio.sleep(0)
    assert [save.started for save in saves] == [True, True, True]
    answer.set()
    await handing_on


async def test_a_follower_saves_nothing() -> None:
    answer = asyncio.Event()
    answer.set()
    saves = [StalledSave(answer) for _ in range(3)]
    engine = Engine(config({"a": pool("t")}))
    succession = Succession(
        engine, handover=saves[0], spend_handover=saves[1], usage_handover=saves[2]
    )
    await succession.hand_on(False, 0.0)
    assert not any(save.started for save in saves)
