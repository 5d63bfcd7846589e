"""What /metrics shows as the loop ticks: a tick's event carries only the pools decided again,
so the gauges follow those, and a pool no longer seen leaves no stale figure behind."""

from __future__ import annotations

from controller.core.events import TickEvent
from controller.core.model import Reason, ScaleDecision
from controller.runtime.metrics import Metrics
from tests.support.factories import config, pool


def lines(metrics: Metrics, name: str) -> list[str]:
    return [line for line in metrics.render().decode().splitlines() if line.startswith(name + "{")]


def test_a_pool_no_longer_seen_leaves_no_lag_on_the_graphs() -> None:
    metrics = Metrics(config({"research": pool("acme"), "support": pool("acme")}))
    metrics.observe_lag([("research", 5), ("support", 2)])
    metrics.observe_lag([("research", None)])
    assert lines(metrics, "agentdash_pool_lag_tasks") == [
        'agentdash_pool_lag_tasks{pool="support"} 2.0'
    ]


def test_a_tick_updates_only_the_pools_it_decided_again() -> None:
    metrics = Metrics(config({"research": pool("acme"), "support": pool("acme")}))
    why = (Reason("demand", "lag 4"),)
    first = (
        ScaleDecision("research", "acme", 1, 2, why),
        ScaleDecision("support", "acme", 1, 1, why),
    )
    metrics.observe(TickEvent(0.0, first, 0.001))
    metrics.observe(TickEvent(1.0, (ScaleDecision("research", "acme", 2, 3, why),), 0.001))
    desired = lines(metrics, "agentdash_pool_desired_replicas")
    assert 'agentdash_pool_desired_replicas{pool="research",tenant="acme"} 3.0' in desired
    assert 'agentdash_pool_desired_replicas{pool="support",tenant="acme"} 1.0' in desired
    made = lines(metrics, "agentdash_decisions_total")
    assert 'agentdash_decisions_total{pool="research",rule="demand"} 2.0' in made
    assert 'agentdash_decisions_total{pool="support",rule="demand"} 1.0' in made
