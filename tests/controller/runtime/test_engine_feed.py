"""Feeding the engine (EngineFeed), in-process with the real engine: a pool whose sources hand
back the same objects is not decided again, a held pool counts its stale reads, and a pool
the cluster does not show is held with the actuator's reason."""

from __future__ import annotations

from collections.abc import Mapping

from controller.core.engine import Engine
from controller.core.events import EventBus
from controller.core.model import PoolState, QueueStats, Usage
from controller.runtime.engine_feed import EngineFeed
from controller.runtime.health import SourceHealth
from controller.runtime.snapshot import Trends
from tests.support import FakeClock
from tests.support.factories import config, pool

NO_USAGE = Usage(tokens_today={})


class Fleet:
    """Two pools, "web" and "chat", each at 1 replica, fed by one EngineFeed."""

    def __init__(self) -> None:
        cfg = config({"web": pool("acme", max_replicas=10), "chat": pool("acme", max_replicas=10)})
        self.engine = Engine(cfg, exact_reasons=True)
        self.health = SourceHealth(EventBus())
        self.trends = Trends()
        self.feed = EngineFeed(cfg, self.engine, self.health, self.trends)
        self.clock = FakeClock()
        self.states = {name: PoolState(replicas=1, ready=1) for name in cfg.pools}
        self.stats = {name: QueueStats(pending=1, ack_pending=0) for name in cfg.pools}

    def tick(self, unobserved: Mapping[str, str] | None = None) -> list[str]:
        """Feed what the sources hold now and step: the pools decided again, by name."""
        now = self.clock.advance(1)
        self.feed.feed(
            now, states=self.states, stats=self.stats, usage=NO_USAGE, unobserved=unobserved or {}
        )
        decided = [self.engine.names[i] for i in self.engine.step(now)]
        self.trends.next_tick()
        return decided

    def stale_reads(self, name: str) -> int:
        return self.engine.observations.pools[name].stale_reads


def test_a_pool_whose_sources_hand_back_the_same_objects_is_not_decided_again() -> None:
    fleet = Fleet()
    assert fleet.tick() == ["web", "chat"]
    assert fleet.tick() == []

    fleet.stats = {**fleet.stats, "chat": QueueStats(pending=4, ack_pending=0)}
    assert fleet.tick() == ["chat"]
    assert fleet.engine.decision(fleet.engine.index["chat"]).desired == 4


def test_a_stale_pool_is_read_at_every_tick_and_counts_its_stale_reads_in_a_row() -> None:
    fleet = Fleet()
    stale = QueueStats(pending=1, ack_pending=0, stale="consumer web not found")
    fleet.stats = {**fleet.stats, "web": stale}
    fleet.tick()
    fleet.tick()
    fleet.tick()

    assert fleet.stale_reads("web") == 3
    assert fleet.health.stale == {"web": "consumer web not found"}

    fleet.stats = {**fleet.stats, "web": QueueStats(pending=1, ack_pending=0)}
    fleet.tick()
    assert fleet.stale_reads("web") == 0
    assert fleet.health.stale == {}


def test_a_failing_source_holds_every_pool_with_its_reason() -> None:
    fleet = Fleet()
    fleet.tick()
    fleet.health.unhealthy("queue", "no answer within 3.0 s", fleet.clock())
    fleet.tick()  # the same objects as before: read again all the same

    assert fleet.health.stale == dict.fromkeys(("web", "chat"), "no answer within 3.0 s")
    assert fleet.stale_reads("chat") == 1


def test_a_pool_the_cluster_does_not_show_is_held_with_the_actuators_reason() -> None:
    fleet = Fleet()
    del fleet.states["web"]
    fleet.tick(unobserved={"web": "Deployment agents/web not found"})
    assert fleet.health.stale == {"web": "Deployment agents/web not found"}

    fleet.tick()  # no reason given: it is simply not seen yet
    assert fleet.health.stale == {"web": "not seen in the cluster yet"}


def test_a_stale_read_is_a_gap_in_the_trend_not_the_last_lag_carried_on() -> None:
    """While NATS did not answer, the TREND column went on drawing the last lag read, as
    if fresh and flat."""
    fleet = Fleet()
    fleet.tick()
    fleet.stats = {**fleet.stats, "web": QueueStats(pending=3, ack_pending=1)}
    fleet.tick()
    fleet.health.unhealthy("queue", "no answer within 2 s", fleet.clock())
    fleet.tick()
    fleet.tick()
    fleet.health.healthy("queue", fleet.clock())
    fleet.tick()
    assert fleet.trends.lag_series("web") == (1, 4, None, None, 4)


def test_a_pool_another_autoscaler_scales_keeps_its_replicas_and_they_fill_the_cluster() -> None:
    """An HPA scales "legacy" (4 pods). agentdash left it out: its 4 pods were counted as 0
    against the cluster's max_pods of 6, and "web" was given all 6. Its reads failing after,
    its fallback (6) must not move it either: agentdash does not scale it at all."""
    cfg = config(
        {
            "web": pool("acme", max_replicas=10),
            "legacy": pool(
                "acme", max_replicas=10, fallback={"failure_threshold": 1, "replicas": 6}
            ),
        },
        max_pods=6,
    )
    engine = Engine(cfg, exact_reasons=True)
    health = SourceHealth(EventBus())
    feed = EngineFeed(cfg, engine, health, Trends())
    states = {"web": PoolState(0, 0), "legacy": PoolState(4, 3)}
    stats = {"web": QueueStats(9, 0), "legacy": QueueStats(5, 0)}
    why = {"legacy": "Deployment agents/legacy is scaled by HorizontalPodAutoscaler agents/x"}

    def decide(now: float) -> dict[str, tuple[int, int, bool]]:
        feed.feed(now, states=states, stats=stats, usage=NO_USAGE, unobserved=why)
        engine.step(now)
        return {d.pool: (d.current, d.desired, d.changes) for d in engine.decisions()}

    assert decide(1.0) == {"web": (0, 2, True), "legacy": (4, 4, False)}
    legacy = engine.decision(engine.index["legacy"])
    assert legacy.main_reason.detail == f"{why['legacy']}: left at the 4 replicas read"

    health.unhealthy("cluster", "no answer within 3.0 s", 2.0)
    for now in (2.0, 3.0, 4.0):
        assert decide(now)["legacy"] == (4, 4, False)  # no fallback: not agentdash's to scale

    states = {**states, "legacy": PoolState(1, 1)}  # the HPA scaled it in
    health.healthy("cluster", 5.0)
    assert decide(5.0)["legacy"] == (1, 1, False)
    assert engine.decision(engine.index["web"]).desired == 5
