"""A producer's messages that JetStream does not store are no arrivals: a pool's rate, and so
its Little's-law demand, counts only the tasks its queue received. Found by attack: 300
copies of one task (the same Nats-Msg-Id, each answered "duplicate") took a pool to its
max_replicas on "arrivals 8.07/s" with one task queued. Real nats-server, real publishes."""

from __future__ import annotations

import json

import pytest
from nats.aio.client import Client

from controller.core.bad_messages import BadMessages
from controller.core.config import Config
from controller.sources.arrivals import CREDIT_READS, Arrivals, Consumer
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool

WINDOW_S = 10.0


def fleet() -> Config:
    return config({"research": pool("acme"), "support": pool("acme")})


async def watching(nc: Client, clock: FakeClock) -> tuple[Config, BadMessages, JetStreamLagSource]:
    """The fleet's queues, and a lag source watching their subjects, read once."""
    cfg = fleet()
    await ensure_queues(nc, cfg)
    bad = BadMessages()
    source = JetStreamLagSource(nc, cfg, clock=clock, bad=bad)
    await source.start()
    await source.read()
    return cfg, bad, source


async def rate_after(
    nc: Client, cfg: Config, source: JetStreamLagSource, clock: FakeClock, seen: int
) -> float | None:
    """The research pool's rate once the source saw `seen` arrivals and read its consumer
    twice (the second read drops what the first did not show stored)."""
    await nc.flush()
    await eventually(lambda: len(source._seen.times["research"]) >= seen)
    clock.advance(WINDOW_S)
    await source.read()
    stats = await source.read()
    return stats["research"].arrival_rate


async def test_copies_of_a_stored_task_are_not_arrivals(
    nc: Client, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    cfg, bad, source = await watching(nc, clock)
    js = nc.jetstream()
    task = json.dumps({"id": "t1"}).encode()
    acks = [
        await js.publish(cfg.subject("research"), task, headers={"Nats-Msg-Id": "t1"})
        for _ in range(51)
    ]
    assert sum(ack.duplicate or False for ack in acks) == 50  # the server stored one

    rate = await rate_after(nc, cfg, source, clock, seen=51)

    assert rate is not None
    assert rate * (clock() - source._started) == 1  # (the window has not filled yet)
    assert bad.counts["unstored"] == 50
    # A producer's safe retries send such copies: the line says what they may be, not "bad".
    (said,) = [r.getMessage() for r in caplog.records if "did not store" in r.getMessage()]
    assert said.startswith("dropped 50 arrivals JetStream did not store: research: seen on")
    assert "a duplicate Nats-Msg-Id, as a producer's retry sends" in said
    await source.stop()


async def test_copies_of_a_stored_task_are_no_arrivals_at_the_read_that_first_sees_them(
    nc: Client, clock: FakeClock
) -> None:
    """The engine decides on every read's rate, not only on the rate two reads later: 300
    copies of one task (299 answered "duplicate") took an idle pool with a 20 s task time
    from 0 to 4 replicas, its scale-up policy's most, on "arrivals 13.48/s" at the read that
    first saw them; they were dropped as unstored only at the read after. A task still
    waiting to show stored is not in the rate yet."""
    cfg, bad, source = await watching(nc, clock)
    js = nc.jetstream()
    for _ in range(51):
        await js.publish(cfg.subject("research"), b'{"id": "t1"}', headers={"Nats-Msg-Id": "t1"})
    await nc.flush()
    await eventually(lambda: len(source._seen.times["research"]) >= 51)
    clock.advance(WINDOW_S)

    stats = await source.read()  # the consumer shows one task stored, 50 wait a read

    rate = stats["research"].arrival_rate
    assert rate is not None
    assert rate * (clock() - source._started) == 1
    stats = await source.read()  # and are dropped
    assert stats["research"].arrival_rate == rate
    assert bad.counts["unstored"] == 50
    await source.stop()


@pytest.mark.parametrize("stored", [True, False], ids=["copies of one task", "all refused"])
async def test_messages_never_stored_wake_an_idle_pool_for_one_task_at_most(
    nc: Client, clock: FakeClock, stored: bool
) -> None:
    """A pool at zero is woken by its subject, before its consumer shows a task: 300 copies
    of one task (or 50 publishes the stream refuses) read as lag 300, and took the pool to
    its max_replicas. One task wakes it; the rest is what its consumer shows."""
    cfg, _, source = await watching(nc, clock)
    source.watch_idle({"research"}, lambda pool: None)
    subject = cfg.subject("research")
    if stored:
        for _ in range(300):
            await nc.jetstream().publish(subject, b'{"id": "t1"}', headers={"Nats-Msg-Id": "t1"})
    else:
        for n in range(50):
            await nc.publish(subject, b"{}", headers={"Pad": "x" * 70_000, "n": str(n)})
    await nc.flush()
    await eventually(lambda: len(source._seen.times["research"]) >= (300 if stored else 50))
    stats = await source.read()
    assert stats["research"].pending == 1
    await source.stop()


async def test_a_publish_the_stream_refuses_is_not_an_arrival(nc: Client, clock: FakeClock) -> None:
    """Headers over JetStream's 64 KiB: the account lets a message carry them, the stream
    refuses to store it, and the subject's subscribers see it all the same."""
    cfg, bad, source = await watching(nc, clock)
    for n in range(5):
        await nc.publish(cfg.subject("research"), b"{}", headers={"Pad": "x" * 70_000, "n": str(n)})
    await nc.jetstream().publish(cfg.subject("research"), b'{"id": "real"}')

    rate = await rate_after(nc, cfg, source, clock, seen=6)

    assert rate is not None
    assert rate * (clock() - source._started) == 1
    assert bad.counts["unstored"] == 5
    await source.stop()


async def test_tasks_that_arrive_as_the_consumer_is_read_are_kept(
    nc: Client, clock: FakeClock
) -> None:
    """The consumer's count can lag a publish: a task seen but not yet shown waits a read."""
    cfg, bad, source = await watching(nc, clock)
    js = nc.jetstream()
    for n in range(20):
        await js.publish(cfg.subject("research"), json.dumps({"id": f"t{n}"}).encode())
        if n % 5 == 0:
            await source.read()

    rate = await rate_after(nc, cfg, source, clock, seen=20)

    assert rate is not None
    assert rate * (clock() - source._started) == 20
    assert bad.counts["unstored"] == 0
    await source.stop()


def test_a_task_not_shown_stored_waits_one_read_then_is_dropped() -> None:
    arrivals = Arrivals(["p"])
    arrivals.read("p", Consumer(pending=0, delivered=0))  # the first read: the baseline
    for at in (1.0, 2.0, 3.0):
        arrivals.seen("p", at)
    assert arrivals.read("p", Consumer(pending=1, delivered=0)) == 0  # 1 shown, 2 wait
    assert arrivals.waiting("p")
    arrivals.seen("p", 4.0)
    # one more shown stored: it counts for the older of the two that waited, the other is
    # dropped, and the one seen since waits in its turn
    assert arrivals.read("p", Consumer(pending=1, delivered=1)) == 1
    assert arrivals.waiting("p")
    assert arrivals.read("p", Consumer(pending=1, delivered=1)) == 1  # never shown
    assert len(arrivals.times["p"]) == 2
    assert not arrivals.waiting("p")


def test_a_consumer_made_again_shows_nothing_stored_and_drops_nothing_at_once() -> None:
    arrivals = Arrivals(["p"])
    arrivals.read("p", Consumer(pending=5, delivered=900))
    arrivals.seen("p", 1.0)
    assert arrivals.read("p", Consumer(pending=1, delivered=0)) == 0  # it waits a read
    assert arrivals.read("p", Consumer(pending=2, delivered=0)) == 0  # and then shows
    assert len(arrivals.times["p"]) == 1


def test_tasks_shown_stored_before_they_are_seen_count_when_they_are() -> None:
    """One connection sees every pool's subject: under a flood elsewhere it reads behind, and
    the consumer shows tasks stored that it has not seen yet. Seen a read or two later, they
    are arrivals, not tasks JetStream never stored (84,981 counted so in one flood)."""
    arrivals = Arrivals(["p"])
    arrivals.read("p", Consumer(pending=0, delivered=0))
    assert arrivals.read("p", Consumer(pending=5, delivered=0)) == 0  # 5 stored, none seen
    for at in (1.0, 2.0, 3.0):
        arrivals.seen("p", at)
    assert arrivals.read("p", Consumer(pending=5, delivered=0)) == 0  # 3 of them, late
    for at in (4.0, 5.0):
        arrivals.seen("p", at)
    assert arrivals.read("p", Consumer(pending=5, delivered=0)) == 0
    assert arrivals.read("p", Consumer(pending=5, delivered=0)) == 0
    assert len(arrivals.times["p"]) == 5
    assert not arrivals.waiting("p")
    # the credit is spent: a copy now is refuted as before
    arrivals.seen("p", 6.0)
    arrivals.read("p", Consumer(pending=5, delivered=0))
    assert arrivals.read("p", Consumer(pending=5, delivered=0)) == 1


def test_a_stored_task_never_seen_stands_for_no_copy_after_its_credit_ends() -> None:
    arrivals = Arrivals(["p"])
    arrivals.read("p", Consumer(pending=0, delivered=0))
    arrivals.read("p", Consumer(pending=2, delivered=0))  # the subscription missed them
    for _ in range(CREDIT_READS):
        arrivals.read("p", Consumer(pending=2, delivered=0))
    for at in (1.0, 2.0):
        arrivals.seen("p", at)  # two copies of a task already stored
    arrivals.read("p", Consumer(pending=2, delivered=0))
    assert arrivals.read("p", Consumer(pending=2, delivered=0)) == 2
