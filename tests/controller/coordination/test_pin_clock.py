"""A pin's or a pause's end, on a real nats-server, from a dashboard whose clock is skewed:
it holds for the span the operator chose from when NATS stored it, on the leader's clock. Its
end was the dashboard's clock plus the span: a dashboard 10 minutes fast pinned a pool for 15
minutes when asked for 5, and one 10 minutes slow for none (the leader ended it at once)."""

from __future__ import annotations

import time

import pytest
from nats.aio.client import Client

from controller.coordination.overrides import OverrideStore
from controller.coordination.shared import SharedOverrides
from controller.core.bad_messages import BadMessages
from tests.support import FakeClock, eventually
from tests.support.shared_kv import CFG, bucket

SKEW_S = 600.0
SPAN_S = 300.0


async def process(
    nc: Client, made: list[SharedOverrides], who: str, clock: FakeClock
) -> OverrideStore:
    """An agentdash process on the shared overrides, its clock `clock`."""
    store = OverrideStore(CFG, clock=clock, who=lambda: who)
    one = SharedOverrides(nc, store, CFG, bad=BadMessages())
    await one.start()
    made.append(one)
    return store


@pytest.mark.parametrize("skew", [SKEW_S, -SKEW_S])
async def test_a_pin_from_a_skewed_dashboard_lasts_its_span_on_the_leaders_clock(
    nc: Client, shared: list[SharedOverrides], skew: float
) -> None:
    leader_clock = FakeClock(time.time())
    leader = await process(nc, shared, "daemon", leader_clock)
    dashboard = await process(nc, shared, "alice", FakeClock(time.time() + skew))

    pinned_at = time.time()
    dashboard.pin("research", 3, for_seconds=SPAN_S)
    await eventually(lambda: "research" in leader.current().pins)
    seen_at = time.time()  # NATS stored it in between, on this machine's clock

    until = leader.current().pins["research"].until
    assert until is not None
    assert pinned_at + SPAN_S <= until <= seen_at + SPAN_S
    assert leader.expire(until - 1) == []
    ended = leader.expire(until)
    assert [(e.action, e.target) for e in ended] == [("pin expired", "research")]
    await shared[0].flush()
    assert b"research" not in (await (await bucket(nc)).get("overrides")).value


async def test_a_leader_starting_later_times_a_skewed_pin_from_when_nats_stored_it(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    dashboard = await process(nc, shared, "alice", FakeClock(time.time() + SKEW_S))
    pinned_at = time.time()
    dashboard.pause_pool("coder", None, SPAN_S)
    await shared[0].flush()
    stored_by = time.time()

    leader = await process(nc, shared, "daemon", FakeClock(time.time()))

    until = leader.current().paused_pools["coder"].until
    assert until is not None
    assert pinned_at + SPAN_S <= until <= stored_by + SPAN_S


@pytest.mark.parametrize("late", [SPAN_S / 2, 4 * SPAN_S])
async def test_a_pin_whose_write_lands_late_keeps_only_what_is_left_of_its_span(
    nc: Client, shared: list[SharedOverrides], late: float
) -> None:
    """A dashboard pins for 5 minutes, and its write lands `late` (NATS away meanwhile: the
    write waits it out). Timed from when NATS stored it, the pin held for 5 minutes more: 20
    minutes late, it pinned the pool 15 minutes after the operator's dashboard had counted
    it over. It keeps what is left of its span when it lands, and none once that is past."""
    leader = await process(nc, shared, "daemon", FakeClock(time.time()))
    dashboard_clock = FakeClock(time.time())
    dashboard = await process(nc, shared, "alice", dashboard_clock)

    pinned_at = time.time()
    dashboard.pin("research", 3, for_seconds=SPAN_S)
    dashboard_clock.advance(late)  # before the write is tried: it lands this much later
    await eventually(lambda: "research" in leader.current().pins)
    landed_by = time.time()

    until = leader.current().pins["research"].until
    assert until is not None
    left = max(0.0, SPAN_S - late)
    assert pinned_at + left <= until <= landed_by + left
