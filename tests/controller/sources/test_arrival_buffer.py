"""What a flood of large tasks may hold in memory: each pool's arrival subscription keeps whole
messages until its callback reads their subjects, so the pools share one bound
(controller.sources.jetstream.arrival_buffer) rather than nats.py's 64 MiB each."""

from __future__ import annotations

from nats.aio.client import Client

from controller.sources.jetstream import (
    PENDING_ARRIVALS_BYTES,
    JetStreamLagSource,
    arrival_buffer,
)
from controller.sources.jetstream_queues import ensure_queues
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool

MIB = 1024**2


def test_the_pools_share_one_bound_with_room_for_the_largest_task_each() -> None:
    assert arrival_buffer(1, MIB) == PENDING_ARRIVALS_BYTES
    assert arrival_buffer(16, MIB) * 16 == PENDING_ARRIVALS_BYTES
    # More pools than the bound has room for: each still takes two of the largest task
    # (nats.py drops a message that would fill the room, so a smaller room drops them all).
    assert arrival_buffer(40, MIB) == 2 * MIB + 1
    assert arrival_buffer(40, 8 * MIB) == 16 * MIB + 1
    assert arrival_buffer(0, 0) == PENDING_ARRIVALS_BYTES


async def test_a_task_as_large_as_the_server_takes_is_an_arrival_with_many_pools(
    nc: Client, clock: FakeClock
) -> None:
    """100 pools: each subscription's share of the bound is under a megabyte, the server's
    largest message, and such a task must still count (a room too small drops it)."""
    cfg = config({f"p{i}": pool("acme") for i in range(100)})
    await ensure_queues(nc, cfg)
    source = JetStreamLagSource(nc, cfg, clock=clock)
    await source.start()
    try:
        limits = [sub._pending_bytes_limit for sub in source._subscriptions]
        assert len(limits) == 100
        assert max(limits) == arrival_buffer(100, nc.max_payload) < 64 * MIB
        body = b"x" * (nc.max_payload - 1024)  # (room for the subject and the headers)
        await nc.jetstream().publish(cfg.subject("p7"), body)
        await nc.flush()
        await eventually(lambda: len(source._seen.times["p7"]) == 1)
    finally:
        await source.stop()
