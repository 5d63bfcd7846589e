"""Source health and staleness (SourceHealth), in-process: what an operator is told when a
source fails or a pool's data cannot be trusted, and what the dashboard's header shows."""

from __future__ import annotations

import asyncio
import logging

import pytest

from controller.core.events import Event, EventBus, HealthEvent
from controller.core.model import PoolState, QueueStats, SourceError
from controller.runtime.health import STEADY_S, SourceHealth
from controller.runtime.pool_lines import GROUP_S
from controller.runtime.reads import SourceReads
from tests.support import FakeClock


def watched() -> tuple[SourceHealth, asyncio.Queue[Event]]:
    bus = EventBus()
    return SourceHealth(bus), bus.subscribe()


def told(events: asyncio.Queue[Event]) -> list[tuple[str, bool, str]]:
    seen = []
    while not events.empty():
        event = events.get_nowait()
        assert isinstance(event, HealthEvent)
        seen.append((event.source, event.ok, event.detail))
    return seen


def test_a_failing_source_is_told_once_then_again_when_its_reason_changes() -> None:
    clock = FakeClock()
    health, events = watched()
    health.unhealthy("queue", "no answer within 3.0 s", clock())
    health.unhealthy("queue", "no answer within 3.0 s", clock.advance(1))
    health.unhealthy("queue", "stream AGENT_TASKS not found", clock.advance(1))

    assert told(events) == [
        ("queue", False, "no answer within 3.0 s"),
        ("queue", False, "stream AGENT_TASKS not found"),
    ]
    assert health.problems == {"queue": "stream AGENT_TASKS not found"}


def test_a_source_that_answers_again_is_told_recovered_once() -> None:
    clock = FakeClock()
    health, events = watched()
    health.healthy("cluster", clock())  # never failed: nothing to say
    health.unhealthy("cluster", "cannot read the cluster", clock.advance(1))
    health.healthy("cluster", clock.advance(1))
    health.healthy("cluster", clock.advance(1))

    assert told(events) == [
        ("cluster", False, "cannot read the cluster"),
        ("cluster", True, "recovered"),
    ]
    assert health.problems == {}


def test_only_the_cluster_and_the_queue_stall_every_pool() -> None:
    clock = FakeClock()
    health, _ = watched()
    health.unhealthy("scale web", "Deployment agents/web not found", clock())
    assert not health.sources_failing()
    assert health.source_problem() is None

    health.unhealthy("queue", "no answer within 3.0 s", clock())
    assert health.sources_failing()
    assert health.source_problem() == "no answer within 3.0 s"

    health.unhealthy("cluster", "cannot read the cluster", clock())
    assert health.source_problem() == "cannot read the cluster"  # the cluster's, first


def test_a_pools_own_staleness_is_told_once_it_lasts_and_its_recovery_too() -> None:
    clock = FakeClock()
    health, events = watched()
    health.track_stale("web", "consumer web not found", clock())
    health.flush(clock())
    assert told(events) == []  # held at once, told once it has lasted
    assert health.stale == {"web": "consumer web not found"}
    assert health.ready()
    health.track_stale("web", "consumer web not found", clock.advance(STEADY_S))
    health.track_stale("chat", None, clock())  # fresh all along: quiet
    health.flush(clock())
    assert not health.ready()
    health.track_stale("web", None, clock.advance(1))
    health.flush(clock())
    health.flush(clock.advance(STEADY_S))

    assert told(events) == [
        ("pool web", False, "consumer web not found"),
        ("pool web", True, "recovered"),
    ]
    assert health.stale == {}
    assert health.ready()


def test_a_pool_that_flips_on_every_other_read_is_not_news_and_readiness_holds() -> None:
    clock = FakeClock()
    health, events = watched()
    for _ in range(60):  # stale for 2 s, fresh for 2 s, for four minutes
        health.track_stale("web", "no answer within 3.3 s", clock.advance(2))
        health.flush(clock())
        assert health.ready()
        health.track_stale("web", None, clock.advance(2))
        health.flush(clock())
    assert told(events) == []


def test_many_pools_meeting_one_problem_are_one_line_every_ten_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="agentdash.loop")
    clock = FakeClock()
    health, events = watched()
    pools = [f"pool-{n}" for n in range(500)]
    for pool in pools:
        health.track_stale(pool, "Deployment not found", clock())
    health.flush(clock.advance(STEADY_S))
    health.flush(clock.advance(GROUP_S))
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "pool pool-0: held, data stale: Deployment not found",
        "499 pools: held, data stale: Deployment not found (pool-1, pool-2, pool-3 and 496 more)",
    ]
    assert len(told(events)) == 500  # each pool's own event, for its Why and Events


def test_pools_stalled_by_a_failing_source_are_held_but_not_told_one_by_one() -> None:
    clock = FakeClock()
    health, events = watched()
    health.unhealthy("queue", "no answer within 3.0 s", clock())
    for pool in ("web", "chat", "batch"):
        health.track_stale(pool, "no answer within 3.0 s", clock())

    assert told(events) == [("queue", False, "no answer within 3.0 s")]
    assert health.stale == dict.fromkeys(("web", "chat", "batch"), "no answer within 3.0 s")

    health.healthy("queue", clock.advance(1))
    for pool in ("web", "chat", "batch"):
        health.track_stale(pool, None, clock())
    assert told(events) == [("queue", True, "recovered")]  # the pools were never told held


def test_the_header_names_the_failing_sources_and_the_pools_held_for_their_own_reasons() -> None:
    clock = FakeClock()
    health, _ = watched()
    health.unhealthy("queue", "no answer within 3.0 s", clock())
    health.unhealthy("scale web", "forbidden", clock())
    health.track_stale("web", "no answer within 3.0 s", clock())  # the source's: said once
    health.track_stale("chat", "consumer chat not found", clock())
    health.track_stale("batch", "not seen in the cluster yet", clock())

    assert health.report(pools=5) == {
        "queue": "no answer within 3.0 s",
        "scale web": "forbidden",
        "pools": "2 of 5 held: chat: consumer chat not found (and 1 more)",
    }


def test_the_header_has_no_pools_line_when_every_held_pool_waits_on_a_source() -> None:
    clock = FakeClock()
    health, _ = watched()
    health.unhealthy("cluster", "cannot read the cluster", clock())
    health.track_stale("web", "cannot read the cluster", clock())

    assert health.report(pools=1) == {"cluster": "cannot read the cluster"}


def test_a_pool_held_for_its_scale_calls_refusal_is_told_once() -> None:
    """The scale call's failure says it; the pool held for the same reason does not say it
    again, neither then nor once the call's failure is settled; its end is told once."""
    clock = FakeClock()
    health, events = watched()
    refused = "patch deployments/scale agents/web: 403 forbidden"
    health.unhealthy("scale web", refused, clock())
    health.track_stale("web", refused, clock.advance(1))
    health.flush(clock.advance(STEADY_S))
    health.healthy("scale web", clock())  # held, its decision changes nothing
    health.track_stale("web", refused, clock.advance(STEADY_S))
    health.flush(clock())

    assert told(events) == [("scale web", False, refused)]
    assert health.stale == {"web": refused}
    assert not health.ready()
    health.track_stale("web", None, clock.advance(60))
    health.flush(clock.advance(STEADY_S))
    assert told(events) == [("pool web", True, "recovered")]


def test_a_refused_scale_call_is_never_said_to_work_while_its_pool_is_held_for_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Held for the refusal, the pool makes no call, which is not the call working again: the
    log's last word on the pool must not say it works while /healthz names it held."""
    clock = FakeClock()
    health, events = watched()
    refused = "patch deployments/scale agents/web: 403 forbidden"
    with caplog.at_level(logging.INFO, logger="agentdash.loop"):
        health.unhealthy("scale web", refused, clock())
        health.track_stale("web", refused, clock.advance(1))
        health.healthy("scale web", clock())  # settled at once: held, nothing to write
        for _ in range(3):
            health.track_stale("web", refused, clock.advance(STEADY_S))
            health.flush(clock())

    assert [r.getMessage() for r in caplog.records] == [f"pool web: scale call failing: {refused}"]
    assert told(events) == [("scale web", False, refused)]
    assert health.report(pools=1) == {"pools": f"1 of 1 held: web: {refused}"}


async def test_a_read_that_fails_is_told_as_of_its_answer_not_the_tick_that_asked() -> None:
    """A cluster that takes 2.5 s to refuse and a queue 3 s more: each failure's event bears
    the time it was known, so the dashboard's timeline does not put it seconds early."""
    clock = FakeClock()
    started = clock()

    class SlowCluster:
        async def observe(self) -> dict[str, PoolState]:
            clock.advance(2.5)
            raise SourceError("cannot read the cluster")

    class SlowQueue:
        async def read(self, pools: object = None) -> dict[str, QueueStats]:
            clock.advance(3.0)
            raise SourceError("stream AGENT_TASKS not found")

    bus = EventBus()
    events = bus.subscribe()
    reads = SourceReads(
        SlowCluster(),  # type: ignore[arg-type]
        SlowQueue(),  # type: ignore[arg-type]
        SourceHealth(bus),
        clock=clock,
        deadline=10.0,
    )
    await reads.refresh(None)

    stamps = []
    while not events.empty():
        event = events.get_nowait()
        assert isinstance(event, HealthEvent)
        stamps.append((event.source, event.ts - started))
    assert stamps == [("cluster", 2.5), ("queue", 5.5)]
