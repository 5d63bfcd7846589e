"""How stale a pool's lag can get when nothing on its subject says it moved, on a real
nats-server, ticking every second: a consumer changed behind the controller's back is read
again within REREAD_EVERY_S, a deleted one is reported missing within twice that, and no tick
lists more than its share of the stream's pages to get there."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping

import pytest
from nats.aio.client import Client
from nats.aio.subscription import Subscription

from controller.core.model import QueueStats
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_api import REREAD_EVERY_S
from controller.sources.jetstream_queues import ensure_queues
from tests.support import FakeClock
from tests.support.lag import POOLS, fetch, fleet, requests

TICK_S = 1.0


async def seconds_until(
    source: JetStreamLagSource,
    clock: FakeClock,
    done: Callable[[Mapping[str, QueueStats]], bool],
    within: float,
) -> float:
    """Read once a tick until an answer is `done`: how long that took (inf: not `within`)."""
    for tick in range(1, math.ceil(within / TICK_S) + 1):
        clock.advance(TICK_S)
        if done(await source.read()):
            return tick * TICK_S
    return math.inf


@pytest.fixture
async def api(nc: Client) -> Subscription:
    return await nc.subscribe("$JS.API.>")


async def test_a_consumer_made_anew_without_a_task_seen_is_read_again_within_the_bound(
    nc: Client, clock: FakeClock
) -> None:
    """Its subject's count stays at 4 throughout: only the bound brings the new split."""
    cfg = fleet()
    await ensure_queues(nc, cfg)
    js = nc.jetstream()
    for _ in range(4):
        await js.publish(cfg.subject("p0300"), b"{}")
    await fetch(nc, "p0300", 2)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    stats = await source.read()
    assert (stats["p0300"].pending, stats["p0300"].ack_pending) == (2, 2)

    # An operator deletes the consumer and makes it again: its 4 tasks are pending anew.
    info = await js.consumer_info("AGENT_TASKS", "p0300")
    await js.delete_consumer("AGENT_TASKS", "p0300")
    await js.add_consumer("AGENT_TASKS", info.config)

    def made_anew(stats: Mapping[str, QueueStats]) -> bool:
        return (stats["p0300"].pending, stats["p0300"].ack_pending) == (4, 0)

    assert await seconds_until(source, clock, made_anew, REREAD_EVERY_S) <= REREAD_EVERY_S


async def test_a_consumer_deleted_without_a_task_seen_is_reported_missing_within_twice_the_bound(
    nc: Client, clock: FakeClock
) -> None:
    cfg = fleet()
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    await source.read()
    await nc.jetstream().delete_consumer("AGENT_TASKS", "p0500")

    def missing(stats: Mapping[str, QueueStats]) -> bool:
        return stats["p0500"].stale is not None

    bound = 2 * REREAD_EVERY_S
    assert await seconds_until(source, clock, missing, bound) <= bound
    stats = await source.read()
    assert stats["p0500"].stale == "consumer AGENT_TASKS/p0500 not found"
    assert [name for name, s in stats.items() if s.stale] == ["p0500"]


async def test_no_tick_lists_more_than_its_share_of_the_pages(
    nc: Client, clock: FakeClock, api: Subscription
) -> None:
    """Three pages, a tick a second: each page once in REREAD_EVERY_S, never two in a tick,
    and the stream's counts asked for once a tick."""
    cfg = fleet()
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    await source.read()
    await requests(nc, api)
    pages_per_tick = []
    seen = Counter[str]()
    ticks = round(REREAD_EVERY_S / TICK_S)
    for _ in range(ticks):
        clock.advance(TICK_S)
        await source.read()
        asked = await requests(nc, api)
        pages_per_tick.append(asked["CONSUMER.LIST"])
        seen += asked
    assert max(pages_per_tick) == 1
    assert seen == {"STREAM.INFO": ticks, "CONSUMER.LIST": math.ceil(POOLS / 256)}


async def test_a_whole_answer_keeps_the_configs_order_and_what_did_not_move(
    nc: Client, clock: FakeClock
) -> None:
    """The loop finds what changed by identity, in the config's order (not a loop over the
    fleet): a pool that did not move is answered with the very same object."""
    cfg = fleet()
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    first = await source.read()
    await nc.jetstream().publish(cfg.subject("p0123"), b"{}")
    clock.advance(TICK_S)
    second = await source.read()
    assert list(first) == list(second) == list(cfg.pools)
    assert [name for name in cfg.pools if second[name] is not first[name]] == ["p0123"]
    assert second["p0123"].pending == 1
