"""How long each pool's oldest task has waited for a worker, read from a real nats-server: the
time the first task its consumer has not delivered reached the stream."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter

import pytest
from nats.aio.client import Client
from prometheus_client.parser import text_string_to_metric_families

from controller.actuators.simcluster import SimulatedCluster
from controller.core.bad_messages import BadMessages
from controller.core.config import Config
from controller.core.model import SourceError
from controller.runtime.loop import Reconciler
from controller.runtime.metrics import Metrics
from controller.sources import oldest_task
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_api import REREAD_EVERY_S
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import TokenLedger
from tests.support import FakeClock
from tests.support.factories import config, pool
from tests.support.lag import fetch, requests


def two_pools() -> Config:
    return config({"research": pool("acme"), "support": pool("acme")})


async def publish_at(nc: Client, cfg: Config, name: str) -> tuple[float, float]:
    """Publish one task to the pool's queue; the wall-clock times just before and just after
    the server stored it."""
    before = time.time()
    await nc.jetstream().publish(cfg.subject(name), json.dumps({"task": name}).encode())
    return before, time.time()


def within(at: float | None, window: tuple[float, float]) -> bool:
    # the server's clock is this machine's: its time falls between the two readings
    return at is not None and window[0] - 0.001 <= at <= window[1] + 0.001


async def test_the_age_is_that_of_the_oldest_task_no_worker_has_taken(
    nc: Client, clock: FakeClock
) -> None:
    cfg = two_pools()
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    first = await publish_at(nc, cfg, "research")
    second = await publish_at(nc, cfg, "research")
    await publish_at(nc, cfg, "research")

    stats = await source.read()
    assert within(stats["research"].oldest_at, first)
    assert stats["support"].oldest_at is None  # nothing waits there
    assert time.time() - (stats["research"].oldest_at or 0) >= 0

    await fetch(nc, "research", 1)  # a worker takes the oldest: the second waits longest now
    clock.advance(REREAD_EVERY_S)
    stats = await source.read()
    assert (stats["research"].pending, stats["research"].ack_pending) == (2, 1)
    assert within(stats["research"].oldest_at, second)

    await fetch(nc, "research", 2)  # every task taken: none waits, though all are lag
    clock.advance(REREAD_EVERY_S)
    stats = await source.read()
    assert (stats["research"].pending, stats["research"].ack_pending) == (0, 3)
    assert stats["research"].oldest_at is None


async def test_the_oldest_task_is_read_only_when_a_worker_has_taken_one_since(
    nc: Client, clock: FakeClock
) -> None:
    cfg = config({f"p{i}": pool("acme") for i in range(40)})  # listed, not asked one by one
    await ensure_queues(nc, cfg)
    api = await nc.subscribe("$JS.API.>")
    source = JetStreamLagSource(nc, cfg, clock=clock)
    first = await publish_at(nc, cfg, "p7")
    stats = await source.read()
    assert await requests(nc, api) == Counter(
        {"STREAM.INFO": 1, "CONSUMER.LIST": 1, "STREAM.MSG": 1}
    )
    assert within(stats["p7"].oldest_at, first)

    await publish_at(nc, cfg, "p7")  # the oldest is the same task: not read again
    stats = await source.read()
    assert await requests(nc, api) == Counter({"STREAM.INFO": 1, "CONSUMER.INFO": 1})
    assert within(stats["p7"].oldest_at, first)


async def junk_for_oldest(monkeypatch: pytest.MonkeyPatch, answer: bytes | None) -> list[str]:
    """The stream's message-get answers `answer` (None: none in time); every other request
    reaches the real server. The subjects asked for the oldest task, as they are asked."""
    asked: list[str] = []

    async def request(nc: Client, subject: str, body: bytes, timeout: float) -> bytes:
        asked.append(subject)
        if answer is None:
            raise SourceError("NATS: TimeoutError")
        return answer

    monkeypatch.setattr(oldest_task, "request", request)
    return asked


@pytest.mark.parametrize(
    "answer",
    [
        b"not json",
        b'{"message": {"seq": 3, "time": "yesterday"}}',
        b'{"message": {"seq": 3, "time": "1970-01-01T00:00:00Z"}}',  # a clock gone wrong
        b'{"message": {"seq": 3, "time": "2999-01-01T00:00:00Z"}}',
        b'{"message": {"seq": 3, "time": "2026-01-01T00:00:00"}}',  # no zone
        b'{"message": {"seq": -3, "time": "2026-01-01T00:00:00Z"}}',
        b'{"message": {"seq": 1e400, "time": "2026-01-01T00:00:00Z"}}',
        b'{"type": "io.nats.jetstream.api.v1.stream_msg_get_response"}',
        b'{"error": {"code": 500, "description": "boom"}}',
    ],
)
async def test_an_oldest_task_answer_that_fails_validation_is_counted_and_the_lag_stands(
    nc: Client,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    answer: bytes,
) -> None:
    cfg = two_pools()
    await ensure_queues(nc, cfg)
    bad = BadMessages()
    source = JetStreamLagSource(nc, cfg, clock=clock, bad=bad)
    await publish_at(nc, cfg, "research")
    await junk_for_oldest(monkeypatch, answer)
    with caplog.at_level(logging.WARNING, logger="agentdash.bad_messages"):
        stats = await source.read()
    assert (stats["research"].pending, stats["research"].stale) == (1, None)
    assert stats["research"].oldest_at is None
    assert bad.counts["queue"] == 1
    (line,) = caplog.messages
    assert line.startswith("dropped a bad queue message: stream AGENT_TASKS's oldest task on ")


async def test_an_oldest_task_not_answered_in_time_leaves_the_lag_on_time_and_is_asked_again(
    nc: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = two_pools()
    await ensure_queues(nc, cfg)
    bad = BadMessages()
    source = JetStreamLagSource(nc, cfg, clock=clock, bad=bad)
    first = await publish_at(nc, cfg, "research")
    asked = await junk_for_oldest(monkeypatch, None)
    stats = await source.read()
    assert (stats["research"].pending, stats["research"].oldest_at) == (1, None)
    assert len(asked) == 1
    assert bad.counts["queue"] == 0  # no answer is not a bad one

    monkeypatch.undo()  # the server answers again: the next read asks, though no count moved
    stats = await source.read()
    assert within(stats["research"].oldest_at, first)


async def test_the_oldest_tasks_never_hold_a_read_past_their_share_of_the_timeout(
    nc: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that never answers them: the read returns with the lag, the ages unknown,
    having waited for them no longer than their share of a request's timeout."""
    cfg = config({f"p{i}": pool("acme") for i in range(3)})
    await ensure_queues(nc, cfg)
    for name in cfg.pools:
        await publish_at(nc, cfg, name)
    hung = asyncio.Event()
    waited: list[float] = []

    async def request(nc: Client, subject: str, body: bytes, timeout: float) -> bytes:
        waited.append(timeout)
        try:
            await asyncio.wait_for(hung.wait(), timeout)  # as nats-py waits for an answer
        except TimeoutError:
            raise SourceError("NATS: TimeoutError") from None
        raise AssertionError("never answered")

    monkeypatch.setattr(oldest_task, "request", request)
    source = JetStreamLagSource(nc, cfg, clock=clock, timeout=0.4)
    stats = await source.read()
    assert {name: (s.pending, s.oldest_at) for name, s in stats.items()} == {
        name: (1, None) for name in cfg.pools
    }
    assert len(waited) == 3
    assert max(waited) <= 0.4 * oldest_task.AGE_SHARE


async def test_metrics_serve_how_long_the_oldest_task_read_from_the_queue_has_waited(
    nc: Client, clock: FakeClock
) -> None:
    cfg = two_pools()
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    loop = Reconciler(cfg, source, TokenLedger(cfg), SimulatedCluster(cfg, clock=clock))
    metrics = Metrics(cfg)
    came = await publish_at(nc, cfg, "support")
    try:
        await loop.tick()
    finally:
        await loop.actuator.close()
    metrics.observe_queues(loop.queues)  # as the daemon does after each tick
    before = time.time()
    served = {
        sample.labels["pool"]: sample.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for sample in family.samples
        if sample.name == "agentdash_pool_oldest_task_age_seconds"
    }
    after = time.time()
    assert served["research"] == 0  # nothing waits there
    assert before - came[1] - 0.001 <= served["support"] <= after - came[0] + 0.001
