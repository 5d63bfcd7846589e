"""The demo fleet in this process, on a real nats-server: its workers and its summary."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from agentdash.demo import tally, worker
from agentdash.demo.fleet import DemoFleet, DemoOptions, load_demo_config
from agentdash.demo.tally import Summary, account
from agentdash.demo.worker import AgentWorker, Ledger
from agentdash.demo.workload import Task
from agentdash.nats_server import NatsServer
from controller.actuators.simcluster import PodHandle
from controller.core.events import Event, ScaleEvent
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually
from tests.support.factories import config, pool


async def test_a_pod_works_on_as_many_tasks_at_once_as_its_concurrency(nc: Client) -> None:
    fleet = config({"coder": pool("acme", concurrency=3)})
    await ensure_queues(nc, fleet)
    js = nc.jetstream()
    for n in range(5):  # long tasks: the pod holds what it took until it is stopped
        task = Task(f"t{n}", "coder", "acme", 0.0, 600.0, 1000)
        await js.publish(fleet.subject("coder"), task.payload())
    ledger = Ledger()
    pod = PodHandle("coder-00001", "coder", 0.0, ready=True)
    runner = asyncio.create_task(AgentWorker(nc, fleet, ledger)(pod))

    async def in_hand() -> tuple[int, int]:
        info = await js.consumer_info("AGENT_TASKS", "coder")
        return info.num_ack_pending or 0, info.num_pending or 0

    await eventually(lambda: pod.task is not None and pod.task.endswith(" +2"))
    assert await in_hand() == (3, 2)  # three at once, and no more
    pod.stopping.set()
    await runner
    assert ledger.naked == 3  # the stopped pod gave all three back, at once
    sub = await js.pull_subscribe_bind("coder", "AGENT_TASKS")
    again: list[Msg] = []

    async def all_five() -> bool:  # the naks land a moment after the stop
        with contextlib.suppress(TimeoutError):
            again.extend(await sub.fetch(5 - len(again), timeout=0.2))
        return len(again) == 5

    await eventually(all_five)
    assert sorted(m.metadata.num_delivered for m in again) == [1, 1, 2, 2, 2]


async def test_the_exit_summary_counts_the_scale_events_that_happened(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """As under the dashboard: nobody but the dashboard's feed reads the fleet's events."""
    options = DemoOptions(
        load_demo_config(None), seed=3, duration=20, nats_url=nats_server.url, speed=4,
        cold_start=0.2, overrides=tmp_path / "overrides.json",
    )  # fmt: skip
    fleet = DemoFleet(options)
    seen = fleet.bus.subscribe()
    scale: list[Event] = []

    def scaled(at_least: int) -> bool:
        while not seen.empty():
            event = seen.get_nowait()
            if isinstance(event, ScaleEvent):
                scale.append(event)
        return len(scale) >= at_least

    await fleet.start()
    stop = asyncio.Event()
    runner = asyncio.create_task(fleet.run_loop(stop))
    await eventually(lambda: scaled(3), timeout=60)
    stop.set()
    await runner
    summary = await fleet.stop()
    scaled(0)
    assert summary.scale_events == len(scale) >= 3


async def test_a_queue_too_slow_to_read_at_stop_is_said_unread_and_nothing_is_lost(
    nats_server: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop's read of what is still queued has a deadline (here none at all), so that a
    slow NATS cannot hold a dashboard's exit past its grace: what is not done is counted as
    still queued, unchecked, never as lost."""
    monkeypatch.setattr(tally, "QUEUE_READ_S", 0.0)
    options = DemoOptions(
        load_demo_config(None), seed=3, duration=20, nats_url=nats_server.url, speed=4,
        cold_start=0.2, overrides=tmp_path / "overrides.json",
    )  # fmt: skip
    fleet = DemoFleet(options)
    await fleet.start()
    stop = asyncio.Event()
    runner = asyncio.create_task(fleet.run_loop(stop))
    await eventually(lambda: len(fleet.published) >= 5, timeout=30)
    stop.set()
    await runner
    summary = await fleet.stop()
    assert not summary.queue_read
    # NATS answered all along: the summary said "NATS unreachable" of a queue too long to read
    # in time (5,815 tasks at the end of a 40-minute demo).
    assert summary.queue_unread == "the read of what is still queued took over 0 s"
    assert summary.lost == 0
    assert summary.published == summary.completed + summary.unconfirmed + summary.remaining


def test_every_task_is_counted_once_and_only_what_is_missing_is_lost() -> None:
    summary = Summary()
    published = {"a", "b", "c", "d", "e"}
    account(summary, published, completed={"a", "x"}, unconfirmed={"b", "c"}, queued={"c", "d"})
    # c was acked unconfirmed but is still queued: the ack did not land, it will be redone
    assert (summary.completed, summary.remaining, summary.unconfirmed, summary.lost) == (1, 2, 1, 1)
    assert summary.queue_read


def test_without_the_queue_what_is_not_done_counts_as_queued_not_lost() -> None:
    summary = Summary()
    account(summary, {"a", "b", "c"}, completed={"a"}, unconfirmed={"b"}, queued=None)
    assert (summary.completed, summary.unconfirmed, summary.remaining, summary.lost) == (1, 1, 1, 0)
    assert not summary.queue_read


async def test_a_fleet_stopped_before_it_connected_has_nothing_queued_to_doubt() -> None:
    """`q` while the demo is still starting: nothing was sent, so nothing can be queued, and
    the summary does not say the queue went unchecked for 'NATS unreachable'."""
    summary = await DemoFleet(DemoOptions(load_demo_config(None))).stop()
    assert (summary.published, summary.remaining, summary.lost) == (0, 0, 0)
    assert summary.queue_read


async def test_a_task_that_outlives_one_cancel_still_ends_at_stop() -> None:
    """Python 3.11's wait_for drops a cancel that lands as what it awaits completes: the
    workload then published on, and the stop awaited it for ever (1 quit in about 35)."""
    fleet = DemoFleet(DemoOptions(load_demo_config(None)))
    cancels = 0

    async def stubborn() -> None:
        nonlocal cancels
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancels += 1
                if cancels > 1:
                    raise  # the second cancel is not lost

    fleet._tasks.append(asyncio.create_task(stubborn()))
    await asyncio.sleep(0)  # it runs, and waits
    stopping = asyncio.create_task(fleet.stop())
    await asyncio.wait({stopping}, timeout=10)  # (not wait_for: in 3.11 it loses cancels too)
    assert stopping.done(), "the stop still waits for a task that outlived its cancel"
    assert cancels == 2
    assert stopping.result().lost == 0


async def test_an_ack_that_cannot_be_confirmed_is_unconfirmed_not_lost(
    nats_server: NatsServer, nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pod told to stop while NATS is stalled finishes its task and acks it, but no
    confirmation comes: the task is "unconfirmed". Once NATS answers, the ack lands."""
    monkeypatch.setattr(worker, "ACK_RETRY_S", 0.5)
    fleet = config({"coder": pool("acme")})
    await ensure_queues(nc, fleet)
    js = nc.jetstream()
    await js.publish(fleet.subject("coder"), Task("t1", "coder", "acme", 0.0, 0.5, 100).payload())
    ledger = Ledger()
    pod = PodHandle("coder-00001", "coder", 0.0, ready=True)
    runner = asyncio.create_task(AgentWorker(nc, fleet, ledger)(pod))
    await eventually(lambda: pod.task == "t1")
    assert nats_server.pid is not None
    os.kill(nats_server.pid, signal.SIGSTOP)
    try:
        pod.stopping.set()  # 0.5 s of work left, within the grace: it finishes, then acks
        await runner
    finally:
        os.kill(nats_server.pid, signal.SIGCONT)
    assert ledger.unconfirmed == {"t1"}
    assert not ledger.completed

    async def queue_empty() -> bool:
        info = await js.consumer_info("AGENT_TASKS", "coder")
        return (info.num_pending or 0) + (info.num_ack_pending or 0) == 0

    await eventually(queue_empty)  # the ack was sent: the task is done, once


async def test_a_message_that_is_not_a_task_is_left_queued_and_the_work_goes_on(nc: Client) -> None:
    fleet = config({"coder": pool("acme")})
    await ensure_queues(nc, fleet)
    js = nc.jetstream()
    for junk in (b"\xff\xfe", b"[]", b'{"id": "t0", "tenant": "acme", "work_s": 1e999}'):
        await js.publish(fleet.subject("coder"), junk)
    await js.publish(fleet.subject("coder"), Task("t1", "coder", "acme", 0.0, 0.1, 100).payload())
    ledger = Ledger()
    pod = PodHandle("coder-00001", "coder", 0.0, ready=True)
    runner = asyncio.create_task(AgentWorker(nc, fleet, ledger)(pod))
    try:
        await eventually(lambda: ledger.completed == {"t1"})
    finally:
        pod.stopping.set()
        await runner
    assert len(ledger.foreign) == 3
    # Handed back, not terminated (on a work-queue stream, a delete): someone's, not the
    # demo's to drop. The task was acked, and is gone.
    assert (await js.stream_info("AGENT_TASKS")).state.messages == 3


async def test_tasks_done_are_counted_and_their_keys_forgotten() -> None:
    """The dashboard demo publishes about 18,500 tasks an hour until quit, and kept every one's
    key in three sets for the exit summary: 4-5 MB an hour. A task published and done is
    counted and forgotten; the summary counts it all the same."""
    fleet = DemoFleet(DemoOptions(load_demo_config(None)))
    keys = {f"run.t{i:06d}" for i in range(1000)}
    done = set(sorted(keys)[:900])
    fleet.sent |= keys
    fleet.published |= keys
    fleet.ledger.completed |= done
    fleet.ledger.unconfirmed |= keys - done
    fleet.forget_done()
    assert fleet.published == fleet.sent == keys - done
    assert not fleet.ledger.completed
    summary = await fleet.stop()
    assert (summary.published, summary.completed, summary.unconfirmed) == (1000, 900, 100)
    assert (summary.remaining, summary.lost) == (0, 0)
