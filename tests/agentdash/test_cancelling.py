"""Ending a task that drops a cancel, as nats.py's first connection did under Python 3.11's
asyncio.wait_for: it must end all the same, not run on for ever."""

from __future__ import annotations

import asyncio

from agentdash.cancelling import cancel_until_done


async def test_a_task_that_drops_a_cancel_is_cancelled_again_until_it_ends() -> None:
    dropped = asyncio.Event()

    async def drops_one_cancel() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:  # what wait_for does when its future completes as well
            dropped.set()
        await asyncio.Event().wait()  # the retry that would go on for ever

    task = asyncio.create_task(drops_one_cancel())
    await asyncio.sleep(0)  # it runs up to its first wait
    await asyncio.wait_for(cancel_until_done(task), timeout=30)
    assert dropped.is_set()
    assert task.cancelled()


async def test_a_task_that_has_ended_is_left_as_it_ended() -> None:
    task = asyncio.create_task(asyncio.sleep(0, result="done"))
    await task
    await cancel_until_done(task)
    assert task.result() == "done"
