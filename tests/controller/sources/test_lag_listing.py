"""Reading lag at fleet scale, on a real nats-server: a stream's consumers listed 256 an
answer instead of one request per pool, and only the pools whose queues can have moved read
again. The requests are counted on the wire (a plain subscription sees each JetStream API
request the source sends)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from controller.core.model import SourceError
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_api import (
    REREAD_EVERY_S,
    ConsumerPage,
    Reads,
    Rotation,
    StreamInfo,
    next_pages,
    parse,
)
from controller.sources.jetstream_queues import check_queues, ensure_queues
from controller.sources.queue_plan import STREAM_BYTES, StreamSpec, check_stream
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool
from tests.support.lag import POOLS, fetch, fleet, requests


@pytest.fixture
async def api(nc: Client) -> Subscription:
    return await nc.subscribe("$JS.API.>")


async def test_listing_reads_the_same_lag_as_asking_each_consumer(
    nc: Client, clock: FakeClock, api: Subscription
) -> None:
    cfg = fleet()
    await ensure_queues(nc, cfg)
    js = nc.jetstream()
    for name, n in (("p0000", 3), ("p0300", 4), ("p0599", 5)):  # on each of the 3 pages
        for i in range(n):
            await js.publish(cfg.subject(name), json.dumps({"id": i}).encode())
    await fetch(nc, "p0300", 2)
    await fetch(nc, "p0599", 5)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    await requests(nc, api)

    listed = await source.read()
    # and the oldest task of each of the two pools with tasks no worker has taken
    assert await requests(nc, api) == {"STREAM.INFO": 1, "CONSUMER.LIST": 3, "STREAM.MSG": 2}
    asked = await source.read(list(cfg.pools))  # one consumer info a pool, as before
    assert await requests(nc, api) == {"CONSUMER.INFO": POOLS}  # the oldest, as they were
    assert listed == asked
    lag = {
        name: (s.pending, s.ack_pending) for name, s in listed.items() if s.pending or s.ack_pending
    }
    assert lag == {"p0000": (3, 0), "p0300": (2, 2), "p0599": (0, 5)}


async def test_each_stream_is_read_its_own_way(
    nc: Client, clock: FakeClock, api: Subscription
) -> None:
    """40 new pools on one stream are listed (one page beats 40 requests); 3 on another are
    asked for one by one."""
    pools = {f"a{i:02d}": pool("acme") for i in range(40)}
    pools |= {
        f"b{i}": pool("acme", queue={"stream": "BULK", "consumer": f"b{i}"}) for i in range(3)
    }
    cfg = config(pools)
    await ensure_queues(nc, cfg)
    await nc.jetstream().publish(cfg.subject("a39"), b"{}")
    await nc.jetstream().publish(cfg.subject("b2"), b"{}")
    source = JetStreamLagSource(nc, cfg, clock=clock)
    await requests(nc, api)
    listed = await source.read()
    assert await requests(nc, api) == {
        "STREAM.INFO": 2,
        "CONSUMER.LIST": 1,
        "CONSUMER.INFO": 3,
        "STREAM.MSG": 2,  # the oldest task of the two pools with one
    }
    assert listed == await source.read(list(cfg.pools))
    assert [name for name, s in listed.items() if s.pending] == ["a39", "b2"]


async def test_a_consumer_missing_from_the_listing_is_reported_as_missing(
    nc: Client, clock: FakeClock
) -> None:
    cfg = fleet()
    await ensure_queues(nc, cfg)
    js = nc.jetstream()
    await js.delete_consumer("AGENT_TASKS", "p0400")
    await js.add_consumer("AGENT_TASKS", durable_name="not-a-pool", filter_subject="other.x")
    stats = await JetStreamLagSource(nc, cfg, clock=clock).read()
    assert stats["p0400"].stale == "consumer AGENT_TASKS/p0400 not found"
    assert [name for name, s in stats.items() if s.stale] == ["p0400"]
    assert "not-a-pool" not in stats


async def test_a_missing_stream_marks_its_pools_stale_as_a_missing_consumer_does(
    nc: Client, clock: FakeClock
) -> None:
    stats = await JetStreamLagSource(nc, fleet(3), clock=clock).read()
    assert {s.stale for s in stats.values()} == {
        f"consumer AGENT_TASKS/p000{i} not found" for i in range(3)
    }


async def test_only_pools_whose_queue_moved_are_read_again_and_every_pool_within_the_bound(
    nc: Client, clock: FakeClock, api: Subscription
) -> None:
    cfg = fleet()
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    await source.read()
    await requests(nc, api)

    js = nc.jetstream()
    for name in ("p0001", "p0299", "p0598"):
        await js.publish(cfg.subject(name), b"{}")
    stats = await source.read()
    assert await requests(nc, api) == {"STREAM.INFO": 1, "CONSUMER.INFO": 3, "STREAM.MSG": 3}
    assert [name for name, s in stats.items() if s.pending] == ["p0001", "p0299", "p0598"]

    await fetch(nc, "p0001", 1)  # no task came or went: its count does not move
    await requests(nc, api)
    stats = await source.read()
    assert await requests(nc, api) == {"STREAM.INFO": 1}
    assert (stats["p0001"].pending, stats["p0001"].ack_pending) == (1, 0)
    # ... until its page comes round: the three pages in REREAD_EVERY_S, a third at a time
    seen = Counter[str]()
    for _ in range(3):
        clock.advance(REREAD_EVERY_S / 3)
        stats = await source.read()
        seen += await requests(nc, api)
    assert seen == {"STREAM.INFO": 3, "CONSUMER.LIST": 3}
    assert (stats["p0001"].pending, stats["p0001"].ack_pending) == (0, 1)


async def test_an_acked_task_moves_its_pool_at_once(nc: Client, clock: FakeClock) -> None:
    cfg = fleet(3)
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    await nc.jetstream().publish(cfg.subject("p0002"), b"{}")
    assert (await source.read())["p0002"].pending == 1
    sub = await nc.jetstream().pull_subscribe_bind("p0002", "AGENT_TASKS")
    (msg,) = await sub.fetch(1, timeout=2)
    await msg.ack_sync()  # a work queue drops an acked task: the subject's count moves
    stats = await source.read()
    assert (stats["p0002"].pending, stats["p0002"].ack_pending) == (0, 0)


async def test_a_task_wakes_an_idle_pool_of_a_large_fleet_at_once(
    nc: Client, clock: FakeClock, api: Subscription
) -> None:
    cfg = fleet()
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    await source.start()
    woken: list[str] = []
    source.watch_idle(set(cfg.pools), woken.append)
    await source.read()
    await requests(nc, api)
    await nc.jetstream().publish(cfg.subject("p0444"), b"{}")
    await eventually(lambda: woken == ["p0444"])
    stats = await source.read(woken)
    assert await requests(nc, api) == {"CONSUMER.INFO": 1}
    assert stats["p0444"].pending == 1
    await source.stop()


async def test_a_stream_of_over_a_thousand_pools_sets_up(nc: Client) -> None:
    cfg = fleet(1001)
    await ensure_queues(nc, cfg)
    info = await nc.jetstream().stream_info("AGENT_TASKS")
    assert (info.config.max_consumers, info.state.consumer_count) == (2002, 1001)
    assert {c.state for c in await check_queues(nc, cfg)} == {"in place"}


def test_a_stream_whose_limit_is_below_its_pools_consumers_differs() -> None:
    thousand_and_one = StreamSpec("S", tuple(f"s.p{i}" for i in range(1001)))
    unset = StreamConfig(
        name="S",
        subjects=["s.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        max_bytes=STREAM_BYTES,
        discard=DiscardPolicy.NEW,
    )
    assert check_stream(thousand_and_one, unset).details == (
        "max_consumers: unset (the server's 1000) -> 2002",
    )
    low = unset.evolve(max_consumers=1500)
    assert check_stream(thousand_and_one, low).state == "in place"
    assert check_stream(StreamSpec("S", ("s.p0",)), unset).state == "in place"


def test_a_pool_is_read_again_when_its_count_moves_tasks_arrive_or_it_is_due() -> None:
    reads = Reads({p: f"s.{p}" for p in "abcdefg"})
    now = 100.0
    reads.record("d", 0, now - 2 * REREAD_EVERY_S)  # not read for too long
    reads.record("a", 2, now - 1)
    reads.record("b", 2, now - 1)  # its count moved to 3
    reads.record("c", 0, now - 1)  # a task seen arriving on its subject
    reads.record("f", 1, now - 1)  # its task gone: its subject holds none
    reads.record("g", 0, now - 1)
    # e: never read
    counts = {"s.a": 2, "s.b": 3, "other.x": 7}
    assert reads.moved(counts, ["c", "not-of-this-stream"], now) == {"b", "c", "d", "e", "f"}
    reads.record("d", 0, now)  # read again: the last in line, no longer due
    assert reads.moved(counts, [], now + 1) == {"b", "e", "f"}


def test_the_rotation_lists_every_page_once_in_the_bound_whatever_the_tick() -> None:
    rotation = Rotation(0, 0.0)
    listed: list[int] = []
    for tick in range(1, 11):  # 10 ticks in REREAD_EVERY_S, 12 pages
        pages, rotation = next_pages(rotation, 3000, 256, tick * REREAD_EVERY_S / 10)
        listed += pages
    assert sorted(listed) == [i * 256 for i in range(12)]
    assert next_pages(Rotation(3, 0.0), 600, 256, 60.0)[0] == [0, 256, 512]  # a long gap


@pytest.mark.parametrize(
    ("model", "answer", "error"),
    [
        (
            StreamInfo,
            b'{"state": {"subjects": {"s.a": -1}}}',
            "stream S: an answer agentdash cannot read: state.subjects.'s.a': "
            "expected a number >= 0, got -1",
        ),
        (
            ConsumerPage,
            b'{"total": 1, "consumers": [{"num_pending": 1}]}',
            "stream S: an answer agentdash cannot read: consumers.0.name: "
            "required field is missing",
        ),
        (ConsumerPage, b'{"error": {"code": 500, "description": "busy"}}', "stream S: busy"),
    ],
)
def test_an_answer_that_is_not_jetstreams_is_a_source_error(
    model: type[StreamInfo] | type[ConsumerPage], answer: bytes, error: str
) -> None:
    with pytest.raises(SourceError) as raised:
        parse(model, answer, "stream S")
    assert str(raised.value) == error
