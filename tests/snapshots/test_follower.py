"""A dashboard that follows another process's controller, at 80x24 and at 200x60: Events and
Why show the history the leader published before the dashboard started, at the leader's
times, and Fleet the leader's replicas. Real NATS JetStream carries both; the sample fleet
(fixed clock, seeded) makes them. The header says when the shared overrides pause the
controller or put it in dry-run, and raises the alarm when no controller leads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nats
import pytest

from agentdash.nats_server import NatsServer
from agentdash.runtime import leader_said
from agentdash.tui.app import AgentDashApp
from agentdash.tui.feed import Feed
from agentdash.tui.sample import (
    START,
    TICKS,
    InstantCluster,
    SampleClock,
    sample_feed,
)
from controller.coordination.history_stream import HistoryPublisher, HistoryReader
from controller.coordination.leader_decisions import (
    DECISIONS_SUBJECT,
    DecisionsEncoder,
    follow_decisions,
)
from controller.coordination.lease import NatsLease
from controller.coordination.overrides import OverrideStore
from controller.core.bad_messages import BadMessages
from controller.core.model import Overrides
from controller.runtime.loop import Reconciler
from tests.support import eventually

SIZES = {"80x24": (80, 24), "200x60": (200, 60)}


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    return SIZES[request.param]


async def follower_feed(
    url: str,
    state: Path,
    *,
    shared: Overrides | None = None,
    leader_stops: bool = False,
    leader_dies: bool = False,
) -> Feed:
    """The sample fleet's leader publishes its 30 s of history (and an operator's pin), then
    a dashboard attaches as a follower and replays it. `shared`: the overrides another
    process wrote, as the follower takes them from NATS KV; `leader_stops`: the leader lets
    the lease go before the follower's last look; `leader_dies`: it sends nothing more for
    10 s, its lease still running (as after kill -9)."""
    nc = await nats.connect(url)
    try:
        leader = await sample_feed(overrides=state / "leader.json")
        leader.announce(leader.store.pin("acme-research", 4, 600))
        held = NatsLease(nc, "leader-1", ttl=3600)
        await held.start()
        assert await held.renew()
        publisher = HistoryPublisher(nc, "leader-1")
        publisher.start()
        for event in leader.events():
            publisher.offer(event, leading=True)
        await eventually(lambda: publisher.waiting == 0)
        await publisher.stop()

        config = leader.config
        clock = SampleClock()
        clock.now = START + TICKS + 5
        watching = NatsLease(nc, "dashboard-1", ttl=3600, contend=False)
        store = OverrideStore(config, state / "follower.json", clock=clock)
        # the same queues and usage as the leader reads (a follower reads them too)
        loop = Reconciler(config, leader.loop.lag, leader.loop.usage,
                          InstantCluster(config, clock), clock=clock, lease=watching,
                          store=store)  # fmt: skip
        await follow_decisions(nc, leader_said(loop, BadMessages()), pools=config.pools)
        await loop.tick()  # it reads who leads
        ready = {pool.name: pool.ready for pool in leader.snapshot().pools}
        told = list(leader.loop.decisions.values())
        leading = DecisionsEncoder("leader-1")
        for chunk in leading.messages(START + TICKS, told, ready, nc.max_payload):
            await nc.publish(DECISIONS_SUBJECT, chunk)
        await eventually(lambda: bool(loop.leader_view.decisions))
        if shared is not None:
            store.replace(shared)
        if leader_stops:
            await held.release()
        if leader_dies:
            clock.now += 10
        await loop.tick()
        reader = HistoryReader(nc, clock=clock)
        await reader.start()
        feed = Feed(loop, reader)
        await reader.stop()  # what it replayed stays for the screen to take
        return feed
    finally:
        await nc.close()


@pytest.fixture
def follower_app(nats_server: NatsServer, tmp_path: Path) -> AgentDashApp:
    feed = asyncio.run(follower_feed(nats_server.url, tmp_path))
    return AgentDashApp(feed, refresh_s=None)


def test_follower_fleet(
    snap_compare: Any, follower_app: AgentDashApp, size: tuple[int, int]
) -> None:
    assert snap_compare(follower_app, terminal_size=size)


def test_follower_events(
    snap_compare: Any, follower_app: AgentDashApp, size: tuple[int, int]
) -> None:
    assert snap_compare(follower_app, press=["e"], terminal_size=size)


def test_follower_why(snap_compare: Any, follower_app: AgentDashApp, size: tuple[int, int]) -> None:
    assert snap_compare(follower_app, press=["enter"], terminal_size=size)


def follower_with(nats_server: NatsServer, tmp_path: Path, **case: Any) -> AgentDashApp:
    feed = asyncio.run(follower_feed(nats_server.url, tmp_path, **case))
    return AgentDashApp(feed, refresh_s=None)


def test_follower_paused(snap_compare: Any, nats_server: NatsServer, tmp_path: Path) -> None:
    app = follower_with(nats_server, tmp_path, shared=Overrides(paused=True))
    assert snap_compare(app, terminal_size=SIZES["80x24"])
    snapshot = app.feed.snapshot()
    assert (snapshot.state, snapshot.leader) == ("paused", "leader-1")
    assert {pool.state for pool in snapshot.pools} == {"paused"}


def test_follower_dry_run(snap_compare: Any, nats_server: NatsServer, tmp_path: Path) -> None:
    app = follower_with(nats_server, tmp_path, shared=Overrides(dry_run=True))
    assert snap_compare(app, terminal_size=SIZES["80x24"])
    assert app.feed.snapshot().state == "dry-run"


def test_follower_no_leader(
    snap_compare: Any, nats_server: NatsServer, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = follower_with(nats_server, tmp_path, leader_stops=True)
    assert snap_compare(app, terminal_size=size)
    snapshot = app.feed.snapshot()
    assert snapshot.leaderless
    assert {pool.state for pool in snapshot.pools} == {"no leader"}


def test_follower_of_a_silent_leader(
    snap_compare: Any, nats_server: NatsServer, tmp_path: Path
) -> None:
    """A leader killed with -9 holds its lease until the TTL: the follower still names it,
    and says it has been silent, in yellow, before the alarm of no leader."""
    app = follower_with(nats_server, tmp_path, leader_dies=True)
    assert snap_compare(app, terminal_size=SIZES["80x24"])
    snapshot = app.feed.snapshot()
    assert (snapshot.leader, snapshot.leader_silent_s) == ("leader-1", 10.0)
    assert not snapshot.leaderless


def test_a_leader_heard_lately_is_not_silent(nats_server: NatsServer, tmp_path: Path) -> None:
    app = follower_with(nats_server, tmp_path)
    assert app.feed.snapshot().leader_silent_s is None
