"""The leader's event history in JetStream: published without holding the tick, replayed by a
dashboard that attaches later, then followed; garbage on the stream is counted and skipped."""

from __future__ import annotations

import json
from collections.abc import Sequence

from nats.aio.client import Client
from nats.js.api import DiscardPolicy, StorageType

from agentdash.nats_server import NatsServer
from controller.coordination.history_stream import (
    MAX_AGE_S,
    MAX_BYTES,
    MAX_MSGS,
    STREAM,
    SUBJECT,
    HistoryPublisher,
    HistoryReader,
    RecordingBus,
    decode,
    ensure_stream,
)
from controller.core.bad_messages import BadMessages
from controller.core.events import ActionEvent, Event, HealthEvent, ScaleEvent, TickEvent
from controller.core.model import Reason
from controller.runtime.metrics import Metrics
from tests.support import eventually
from tests.support.factories import config, pool

T0 = 1_700_000_000.0


def scale(ts: float, pool: str = "research", old: int = 1, new: int = 3) -> ScaleEvent:
    return ScaleEvent(
        ts,
        pool,
        old,
        new,
        (Reason(rule="demand", template="lag {} / {} per replica", args=(30, 10)),),
    )


HISTORY: list[Event] = [
    scale(T0),
    HealthEvent(T0 + 1, "queue", False, "consumer AGENT_TASKS/research not found"),
    ActionEvent(T0 + 2, "alice", "pin", "research", "3 replicas for 10 min"),
    scale(T0 + 3, new=1, old=3),
    ScaleEvent(T0 + 4, "triage", 2, 0, (Reason(rule="demand", template="lag 0"),), dry_run=True),
]


async def published(
    publisher: HistoryPublisher, events: Sequence[Event], leading: bool = True
) -> None:
    for event in events:
        publisher.offer(event, leading)
    await eventually(lambda: publisher.waiting == 0)


def shown(events: Sequence[Event]) -> list[dict[str, object]]:
    """What a screen shows of each event (its fields, the leader's time)."""
    return [e.as_dict() for e in events if not isinstance(e, TickEvent)]


async def next_read(reader: HistoryReader) -> list[Event]:
    """What the reader reads next (polled, with a deadline)."""
    got: list[Event] = []

    def some() -> bool:
        got.extend(reader.take())
        return bool(got)

    await eventually(some)
    return got


async def test_a_follower_started_later_replays_the_history_then_follows_it_live(
    nc: Client,
) -> None:
    publisher = HistoryPublisher(nc, "leader-1")
    publisher.start()
    reader = HistoryReader(nc, clock=lambda: T0 + 60)
    try:
        await published(publisher, [*HISTORY[:2], TickEvent(T0, (), 0.01), *HISTORY[2:]])
        assert publisher.published == len(HISTORY)  # ticks are not history

        await reader.start()  # returns once the replay is read
        assert reader.caught_up
        assert shown(reader.take()) == shown(HISTORY)

        live = scale(T0 + 30, pool="triage", old=0, new=2)
        publisher.offer(live, leading=True)
        heard = await next_read(reader)
        assert shown(heard) == shown([live])
        assert heard[0].ts == T0 + 30  # the leader's time, not the reader's
    finally:
        await reader.stop()
        await publisher.stop()


async def test_a_process_that_does_not_lead_publishes_only_the_actions_taken_there(
    nc: Client,
) -> None:
    publisher = HistoryPublisher(nc, "follower-1")
    publisher.start()
    reader = HistoryReader(nc, clock=lambda: T0 + 60)
    try:
        await published(publisher, HISTORY, leading=False)
        await reader.start()
        assert shown(reader.take()) == shown([e for e in HISTORY if isinstance(e, ActionEvent)])
    finally:
        await reader.stop()
        await publisher.stop()


async def test_the_end_of_a_failure_told_is_told_though_the_lease_is_not_yet_renewed(
    nc: Client,
) -> None:
    """When NATS comes back, the queue recovers in the tick before the lease is renewed: the
    history held "queue: NATS disconnected" and never its end, after every outage (three in a
    soak), for a dashboard attached later to show. A follower's own failure, never told, has
    no end told either."""
    publisher = HistoryPublisher(nc, "leader-1")
    publisher.start()
    reader = HistoryReader(nc, clock=lambda: T0 + 60)
    failed = HealthEvent(T0, "queue", False, "NATS disconnected (reconnecting)")
    recovered = HealthEvent(T0 + 40, "queue", True, "recovered")
    try:
        await published(publisher, [failed])
        await published(publisher, [recovered], leading=False)
        await published(
            publisher,
            [HealthEvent(T0 + 50, "cluster", False, "no answer"), recovered],
            leading=False,
        )
        await reader.start()
        assert shown(reader.take()) == shown([failed, recovered])
    finally:
        await reader.stop()
        await publisher.stop()


async def test_the_stream_is_made_by_the_first_writer_with_its_limits(nc: Client) -> None:
    publisher = HistoryPublisher(nc, "leader-1")
    publisher.start()
    try:
        await published(publisher, HISTORY[:1])
        config = (await nc.jetstream().stream_info(STREAM)).config
    finally:
        await publisher.stop()
    assert config.subjects == [SUBJECT]
    assert config.max_age == MAX_AGE_S == 24 * 3600
    assert config.max_msgs == MAX_MSGS
    assert config.max_bytes == MAX_BYTES
    assert config.storage == StorageType.FILE
    assert config.discard == DiscardPolicy.OLD


async def test_garbage_on_the_stream_is_counted_and_skipped(nc: Client) -> None:
    js = nc.jetstream()
    await ensure_stream(js)
    good = scale(T0).as_dict()
    forged = [
        b"\xff\xfe",
        b"{}",
        b"[" * 50_000,
        json.dumps({**good, "type": "reboot"}).encode(),
        json.dumps({**good, "ts": "soon"}).encode(),
        json.dumps({**good, "ts": -1}).encode(),
        json.dumps({**good, "to": -3}).encode(),
        json.dumps({**good, "to": 1e308}).encode(),
        json.dumps({**good, "pool": "p" * 1000}).encode(),
        json.dumps({**good, "reasons": [{"rule": "demand", "detail": "x" * 10_000}]}).encode(),
        b'{"type": "health", "ts": NaN, "source": "queue", "ok": true, "detail": ""}',
        json.dumps({"type": "action", "ts": T0, "who": "mallory"}).encode(),
    ]
    for body in [forged[0], json.dumps(good).encode(), *forged[1:]]:
        await js.publish(SUBJECT, body)
    bad = BadMessages()
    reader = HistoryReader(nc, bad=bad, clock=lambda: T0 + 60)
    try:
        await reader.start()
        assert shown(reader.take()) == shown(HISTORY[:1])
        assert bad.counts["events"] == len(forged)

        await js.publish(SUBJECT, b"not json")  # while following, too
        await js.publish(SUBJECT, json.dumps({**good, "ts": T0 + 5}).encode())
        heard = await next_read(reader)
        assert [e.ts for e in heard] == [T0 + 5]
        assert bad.counts["events"] == len(forged) + 1
    finally:
        await reader.stop()
    exposed = Metrics(config({"research": pool("acme")}), bad).render().decode()
    assert f'agentdash_bad_messages_total{{source="events"}} {len(forged) + 1}.0' in exposed


async def test_the_replay_is_bounded_by_count_and_by_age(nc: Client) -> None:
    publisher = HistoryPublisher(nc, "leader-1")
    publisher.start()
    old = [scale(T0 - 2 * MAX_AGE_S + i, old=i, new=i + 1) for i in range(3)]
    recent = [scale(T0 + i, old=i, new=i + 1) for i in range(10)]
    try:
        await published(publisher, old + recent)
    finally:
        await publisher.stop()
    by_count = HistoryReader(nc, clock=lambda: T0 + 60, last=4)
    by_age = HistoryReader(nc, clock=lambda: T0 + 60)
    try:
        await by_count.start()
        await by_age.start()
        assert shown(by_count.take()) == shown(recent[-4:])
        assert shown(by_age.take()) == shown(recent)  # a day old and more is not replayed
    finally:
        await by_count.stop()
        await by_age.stop()


async def test_a_reader_started_before_any_leader_follows_once_the_stream_appears(
    nc: Client,
) -> None:
    reader = HistoryReader(nc, clock=lambda: T0 + 60, retry_s=0.05)
    publisher = HistoryPublisher(nc, "leader-1")
    try:
        await reader.start()
        assert reader.caught_up  # nothing to replay: the screen does not wait
        assert reader.take() == []
        publisher.start()
        publisher.offer(HISTORY[0], leading=True)
        heard = await next_read(reader)
        assert shown(heard) == shown(HISTORY[:1])
    finally:
        await reader.stop()
        await publisher.stop()


async def test_a_nats_outage_holds_the_tick_for_nothing_and_loses_nothing_silently(
    nats_server: NatsServer, nc: Client
) -> None:
    publisher = HistoryPublisher(nc, "leader-1", size=5)
    publisher.start()
    metrics = Metrics(config({"research": pool("acme")}))
    metrics.registry.register(publisher.collector())
    bus = RecordingBus()
    bus.record = lambda event: publisher.offer(event, leading=True)
    try:
        await published(publisher, HISTORY[:1])
        nats_server.stop()
        await eventually(lambda: not nc.is_connected)
        during = [scale(T0 + 10 + i, old=i, new=i + 1) for i in range(8)]
        for event in during:
            bus.publish(event)  # returns at once: the tick goes on
        assert publisher.waiting == 5
        assert publisher.unpublished == 3
        assert "agentdash_events_unpublished_total 3.0" in metrics.render().decode()

        nats_server.start()  # the same port and store
        await eventually(lambda: publisher.waiting == 0, timeout=20)
    finally:
        await publisher.stop()
    reader = HistoryReader(nc, clock=lambda: T0 + 60)
    try:
        await reader.start()
        assert shown(reader.take()) == shown([*HISTORY[:1], *during[:5]])  # once each
    finally:
        await reader.stop()


def test_a_dry_run_typed_apart_reads_as_a_dry_run() -> None:
    """A leader may type a dry-run's would-be change "dry-run" rather than "scale"."""
    told = {"type": "dry-run", "ts": T0, "pool": "triage", "from": 2, "to": 0,
            "reasons": [{"rule": "demand", "detail": "lag 0"}]}  # fmt: skip
    event = decode(json.dumps(told).encode())
    assert isinstance(event, ScaleEvent)
    assert event.dry_run
    assert (event.pool, event.old, event.new) == ("triage", 2, 0)
