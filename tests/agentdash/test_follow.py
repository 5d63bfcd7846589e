"""A dashboard attached to a fleet another process leads: it sees the leader's history from
before it started, then the leader's new events as they happen, and the leader's replicas."""

from __future__ import annotations

import json

import yaml
from nats.aio.client import Client
from textual.widgets import Static

from agentdash.nats_server import NatsServer
from agentdash.opening import RuntimeOptions
from agentdash.runtime import Runtime, start
from agentdash.tui.app import AgentDashApp
from agentdash.tui.feed import Feed
from agentdash.tui.table import KeyedTable
from controller.coordination.history_stream import STREAM
from controller.core.config import Config, parse_config
from controller.core.events import ActionEvent, Event, ScaleEvent
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually
from tests.support.cli import EXAMPLE


def example() -> Config:
    return parse_config(yaml.safe_load(EXAMPLE.read_text()))


async def tasks(nc: Client, config: Config, pool: str, count: int) -> None:
    for i in range(count):
        await nc.jetstream().publish(config.subject(pool), json.dumps({"i": i}).encode())


def scale_events(events: list[Event]) -> list[tuple[float, str, int, int]]:
    """Scale events as the Events screen shows them, at the leader's time (kept to the ms)."""
    return [(round(e.ts, 3), e.pool, e.old, e.new) for e in events if isinstance(e, ScaleEvent)]


def actions(events: list[Event]) -> list[dict[str, object]]:
    return [e.as_dict() for e in events if isinstance(e, ActionEvent)]


async def until_seen(feed: Feed, check: object, into: list[Event]) -> None:
    """Collect what the feed returns, as the screen does twice a second, until `check`."""

    def look() -> bool:
        into.extend(feed.events())
        return bool(check(into))  # type: ignore[operator]

    await eventually(look)


async def test_a_dashboard_started_later_replays_the_leaders_history_then_follows_it(
    nats_server: NatsServer, nc: Client
) -> None:
    config = example()
    await ensure_queues(nc, config)
    leader = await start(config, RuntimeOptions(nats_server.url, cluster="simulated"))
    told = Feed(leader.loop, await leader.follow_history())  # a dashboard that leads (--lead)
    follower: Runtime | None = None
    try:
        await tasks(nc, config, "acme-research", 12)
        await leader.loop.tick()
        assert leader.loop.leading
        before = scale_events(told.events())
        assert before, "the leader scaled nothing"
        assert leader.publisher is not None
        await eventually(lambda: leader.publisher.waiting == 0)  # type: ignore[union-attr]

        follower = await start(config, RuntimeOptions(nats_server.url, cluster="simulated",
                                                      lead=False))  # fmt: skip
        feed = Feed(follower.loop, await follower.follow_history())
        seen: list[Event] = []
        await until_seen(feed, lambda got: scale_events(got) == before, seen)
        assert follower.loop.actuator.scale_calls == []  # type: ignore[attr-defined]

        event = follower.loop.store.pin("globex-triage", 3)  # an operator on the follower
        feed.announce(event)
        await tasks(nc, config, "globex-triage", 9)  # live: after the follower attached
        await leader.loop.tick()
        live = scale_events(told.events())
        assert live
        await until_seen(feed, lambda got: scale_events(got) == before + live, seen)
        # its own action came back from the stream before the leader's later events did
        assert actions(seen) == [event.as_dict()]

        # the leading dashboard: its own events once (the stream's copies are not repeated),
        # and the follower's action, which only the stream told it
        mine: list[Event] = []
        await until_seen(told, lambda got: actions(got) == [event.as_dict()], mine)
        assert scale_events(mine) == []

        later = await start(config, RuntimeOptions(nats_server.url, cluster="simulated",
                                                   read_only=True))  # fmt: skip
        try:
            replayed = Feed(later.loop, await later.follow_history()).events()
            assert scale_events(replayed) == before + live
            assert actions(replayed) == [event.as_dict()]
        finally:
            await later.stop()
    finally:
        if follower is not None:
            await follower.stop()
        await leader.stop()


async def test_a_follower_shows_the_leaders_replicas_not_its_own_empty_cluster(
    nats_server: NatsServer, nc: Client
) -> None:
    """With --cluster simulated a follower's own cluster never scales: it read 0."""
    config = example()
    await ensure_queues(nc, config)
    options = RuntimeOptions(nats_server.url, cluster="simulated")
    leader = await start(config, options)
    follower = await start(config, RuntimeOptions(nats_server.url, cluster="simulated",
                                                  lead=False))  # fmt: skip
    try:
        await tasks(nc, config, "acme-research", 12)

        def rows(runtime: Runtime) -> tuple[int, int, int]:
            row = next(p for p in runtime.loop.snapshot().pools if p.name == "acme-research")
            return row.replicas, row.desired, row.ready

        async def ready_on_the_leader() -> bool:
            await leader.loop.tick()
            return rows(leader)[2] > 0  # its pods have started (cold start 3 s)

        await eventually(ready_on_the_leader, timeout=20, every=0.2)

        async def follows() -> bool:
            await leader.loop.tick()
            await follower.loop.tick()
            return rows(follower) == rows(leader)

        await eventually(follows, timeout=10, every=0.05)
        replicas, desired, ready = rows(follower)
        assert min(replicas, desired, ready) > 0
        assert follower.loop.actuator.scale_calls == []  # type: ignore[attr-defined]
        own = await follower.loop.actuator.observe()
        assert own["acme-research"].replicas == 0  # what it used to show
        # Its Pods screen has none of the leader's pods to show, and says why, not just "0".
        app = AgentDashApp(Feed(follower.loop), refresh_s=None)
        async with app.run_test(size=(80, 24)) as pilot:
            pools = app.screen.query_one("#pools", KeyedTable)

            async def listed() -> bool:
                await pilot.pause()
                return pools.selected is not None

            await eventually(listed, timeout=10, every=0.05)
            pools.select("acme-research")
            await pilot.press("p")
            title = str(app.screen.query_one("#title", Static).render())
            where = "in the leader's process (--cluster simulated)"
            assert title == f"Pods of pool acme-research: {where}"
    finally:
        await follower.stop()
        await leader.stop()


async def test_a_read_only_dashboard_writes_no_history(nats_server: NatsServer, nc: Client) -> None:
    config = example()
    read_only = await start(config, RuntimeOptions(nats_server.url, cluster="simulated",
                                                   read_only=True))  # fmt: skip
    try:
        assert read_only.publisher is None
        await read_only.follow_history()
        await read_only.loop.tick()
        assert STREAM not in [info.config.name for info in await nc.jetstream().streams_info()]
    finally:
        await read_only.stop()
