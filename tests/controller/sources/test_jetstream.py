"""JetStreamLagSource against a real nats-server with JetStream."""

from __future__ import annotations

import json
import os
import signal

import pytest
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.core.accounting import RATE_WINDOW_S
from controller.core.config import Config
from controller.core.model import SourceError
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_api import REREAD_EVERY_S
from controller.sources.jetstream_queues import ensure_queues
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool


def two_pools() -> Config:
    return config({"research": pool("acme"), "support": pool("acme")})


async def publish(nc: Client, cfg: Config, pool_name: str, n: int) -> None:
    js = nc.jetstream()
    for i in range(n):
        await js.publish(cfg.subject(pool_name), json.dumps({"id": f"{pool_name}-{i}"}).encode())


async def test_lag_counts_pending_then_ack_pending_then_nothing(
    nc: Client, clock: FakeClock
) -> None:
    cfg = two_pools()
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    await publish(nc, cfg, "research", 5)
    stats = await source.read()
    assert (stats["research"].pending, stats["research"].ack_pending) == (5, 0)
    assert (stats["support"].pending, stats["support"].ack_pending) == (0, 0)

    sub = await nc.jetstream().pull_subscribe_bind("research", "AGENT_TASKS")
    msgs = await sub.fetch(2, timeout=2)
    while len(msgs) < 2:  # a fetch may return fewer than asked
        msgs += await sub.fetch(2 - len(msgs), timeout=2)
    # A fetch moves no task in or out of the stream: its lag is the same, and the split
    # between pending and ack pending is seen when the pool is next re-read.
    clock.advance(REREAD_EVERY_S)
    stats = await source.read()
    assert (stats["research"].pending, stats["research"].ack_pending) == (3, 2)

    for msg in msgs:
        await msg.ack_sync()  # confirmed by the server, so the next read sees it
    stats = await source.read()
    assert (stats["research"].pending, stats["research"].ack_pending) == (3, 0)


async def test_a_nak_puts_the_task_back_as_lag(nc: Client) -> None:
    cfg = two_pools()
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg)
    await publish(nc, cfg, "support", 1)
    sub = await nc.jetstream().pull_subscribe_bind("support", "AGENT_TASKS")
    (msg,) = await sub.fetch(1, timeout=2)
    await msg.nak()
    await nc.flush()
    stats = await source.read()
    assert stats["support"].pending + stats["support"].ack_pending == 1


async def test_a_missing_consumer_marks_only_its_pool_stale(nc: Client) -> None:
    cfg = two_pools()
    await ensure_queues(nc, cfg)
    await nc.jetstream().delete_consumer("AGENT_TASKS", "support")
    stats = await JetStreamLagSource(nc, cfg).read()
    assert stats["support"].stale == "consumer AGENT_TASKS/support not found"
    assert stats["research"].stale is None


async def test_arrivals_wake_an_idle_pool_and_give_a_rate(nc: Client, clock: FakeClock) -> None:
    cfg = two_pools()
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    await source.start()
    woken: list[str] = []
    source.watch_idle({"research"}, woken.append)
    await source.read()
    await publish(nc, cfg, "research", 1)
    await publish(nc, cfg, "support", 1)
    await eventually(lambda: woken == ["research"])

    await publish(nc, cfg, "research", 9)
    await nc.flush()
    clock.advance(5.0)
    await eventually(lambda: len(source._seen.times["research"]) == 10)
    stats = await source.read()
    assert stats["research"].arrival_rate == 2.0  # 10 tasks in 5 s
    clock.advance(RATE_WINDOW_S)
    stats = await source.read()
    assert stats["research"].arrival_rate == 0.0  # all of them left the window
    await source.stop()


async def test_a_stalled_server_is_said_in_words(nats_server: NatsServer, nc: Client) -> None:
    """A server that answers nothing (SIGSTOP): the stale reason is how long it was waited
    for, as the dashboard's header and /healthz show it, not 'TimeoutError: nats: timeout'."""
    cfg = two_pools()
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg, timeout=0.3)
    assert nats_server.pid is not None
    os.kill(nats_server.pid, signal.SIGSTOP)
    try:
        with pytest.raises(SourceError) as raised:
            await source.read()
    finally:
        os.kill(nats_server.pid, signal.SIGCONT)
    assert str(raised.value) == "NATS: no answer within 0.3 s"
