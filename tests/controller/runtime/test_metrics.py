"""What /metrics shows as the loop ticks: a tick's event carries only the pools decided again,
so the gauges follow those, and a pool no longer seen leaves no stale figure behind."""

from __future__ import annotations

from controller.core.events import HealthEvent, TickEvent
from controller.core.model import QueueStats, Reason, ScaleDecision
from controller.runtime.metrics import Metrics
from tests.support import FakeClock
from tests.support.factories import config, pool
from tests.support.fleets import tiers_with_a_target_wait


def lines(metrics: Metrics, name: str) -> list[str]:
    return [line for line in metrics.render().decode().splitlines() if line.startswith(name + "{")]


def decided(
    pool: str, current: int, desired: int, reasons: tuple[Reason, ...], recommendation: int = 0
) -> ScaleDecision:
    """A decision for one of acme's pools."""
    return ScaleDecision(
        pool=pool,
        tenant="acme",
        current=current,
        desired=desired,
        reasons=reasons,
        recommendation=recommendation,
    )


def test_a_pool_no_longer_seen_leaves_no_lag_on_the_graphs() -> None:
    metrics = Metrics(config({"research": pool("acme"), "support": pool("acme")}))
    metrics.observe_lag([("research", 5), ("support", 2)])
    metrics.observe_lag([("research", None)])
    assert lines(metrics, "agentdash_pool_lag_tasks") == [
        'agentdash_pool_lag_tasks{pool="support"} 2.0'
    ]


def test_a_tick_updates_only_the_pools_it_decided_again() -> None:
    metrics = Metrics(config({"research": pool("acme"), "support": pool("acme")}))
    why = (Reason(rule="demand", template="lag 4"),)
    first = (
        decided("research", 1, 2, why),
        decided("support", 1, 1, why),
    )
    metrics.observe(TickEvent(0.0, first, 0.001))
    metrics.observe(TickEvent(1.0, (decided("research", 2, 3, why),), 0.001))
    desired = lines(metrics, "agentdash_pool_desired_replicas")
    assert 'agentdash_pool_desired_replicas{pool="research",tenant="acme"} 3.0' in desired
    assert 'agentdash_pool_desired_replicas{pool="support",tenant="acme"} 1.0' in desired
    made = lines(metrics, "agentdash_decisions_total")
    assert 'agentdash_decisions_total{pool="research",rule="demand"} 2.0' in made
    assert 'agentdash_decisions_total{pool="support",rule="demand"} 1.0' in made


def starved_at(metrics: Metrics) -> list[str]:
    return lines(metrics, "agentdash_pool_starved")


def test_a_pool_a_shared_ceiling_cuts_is_starved_until_it_gets_what_it_asks_for() -> None:
    metrics = Metrics(config({"research": pool("acme")}))
    cut = (
        Reason(rule="demand", template="lag 8"),
        Reason(rule="cluster max_pods", template="24 in use: 8 -> 5"),
    )
    metrics.observe(TickEvent(0.0, (decided("research", 5, 5, cut, 8),), 0.001))
    assert starved_at(metrics) == ['agentdash_pool_starved{pool="research",tenant="acme"} 1.0']
    enough = (Reason(rule="demand", template="lag 5"),)
    metrics.observe(TickEvent(1.0, (decided("research", 5, 5, enough, 5),), 0.001))
    assert starved_at(metrics) == ['agentdash_pool_starved{pool="research",tenant="acme"} 0.0']
    capped = (
        Reason(rule="demand", template="lag 20"),
        Reason(rule="max_replicas", template="10: 20 -> 10"),
    )
    metrics.observe(TickEvent(2.0, (decided("research", 5, 10, capped, 20),), 0.001))
    assert starved_at(metrics) == ['agentdash_pool_starved{pool="research",tenant="acme"} 0.0']


def test_a_pool_grows_starved_with_the_same_replicas_as_its_demand_grows() -> None:
    metrics = Metrics(config({"research": pool("acme")}))
    metrics.observe(
        TickEvent(0.0, (decided("research", 5, 5, (Reason(rule="demand", template="5"),), 5),), 0)
    )
    cut = (
        Reason(rule="demand", template="lag 9"),
        Reason(rule="tenant max_pods", template="5 of 5: 9 -> 5"),
    )
    metrics.observe(TickEvent(1.0, (decided("research", 5, 5, cut, 9),), 0.001))
    assert starved_at(metrics) == ['agentdash_pool_starved{pool="research",tenant="acme"} 1.0']


def test_the_oldest_tasks_age_is_as_of_the_scrape_with_its_tier_and_the_tiers_target() -> None:
    clock = FakeClock(1_000.0)
    cfg = tiers_with_a_target_wait()
    metrics = Metrics(cfg, clock=clock)
    metrics.observe_queues(
        {
            "research": QueueStats(3, 0, oldest_at=990.0),
            "support": QueueStats(0, 2),  # every task taken: none waits
            "batch": QueueStats(4, 0),  # tasks wait, since when not known yet: no figure
        }
    )
    age = "agentdash_pool_oldest_task_age_seconds"
    assert lines(metrics, age) == [
        f'{age}{{pool="research",tier="enterprise"}} 10.0',
        f'{age}{{pool="support",tier="enterprise"}} 0.0',
    ]
    clock.advance(50)  # no new reading: the same task has waited 50 s more
    assert lines(metrics, age)[0] == f'{age}{{pool="research",tier="enterprise"}} 60.0'
    assert lines(metrics, "agentdash_tier_target_wait_seconds") == [
        'agentdash_tier_target_wait_seconds{tier="enterprise"} 30.0'
    ]


def test_every_source_has_a_series_from_the_first_pass_on() -> None:
    """agentdash_source_up had a series only for a source whose health had changed: a healthy
    daemon's graphs and its alert read "no data"."""
    metrics = Metrics(config({"research": pool("acme")}))
    assert lines(metrics, "agentdash_source_up") == []
    metrics.observe(HealthEvent(0.0, "queue", ok=False, detail="NATS disconnected"))
    metrics.observe(TickEvent(0.0, (), 0.001))
    assert sorted(lines(metrics, "agentdash_source_up")) == [
        'agentdash_source_up{source="cluster"} 1.0',
        'agentdash_source_up{source="queue"} 0.0',
        'agentdash_source_up{source="tokens"} 1.0',
    ]


def test_every_sources_error_count_starts_at_zero_and_counts_are_not_doubled() -> None:
    """A healthy daemon served no agentdash_source_errors_total (`rate()` read "no data", not
    "none"), and each counter had a second series, `X_created`, that nothing reads."""
    metrics = Metrics(config({"research": pool("acme")}))
    metrics.observe(HealthEvent(0.0, "queue", ok=False, detail="NATS disconnected"))
    metrics.observe(
        TickEvent(
            0.0, (decided("research", 1, 1, (Reason(rule="demand", template="lag 1"),), 1),), 0.001
        )
    )
    assert sorted(lines(metrics, "agentdash_source_errors_total")) == [
        'agentdash_source_errors_total{source="cluster"} 0.0',
        'agentdash_source_errors_total{source="queue"} 1.0',
        'agentdash_source_errors_total{source="tokens"} 0.0',
    ]
    assert "_created" not in metrics.render().decode()


def test_a_pool_its_max_replicas_holds_below_its_demand_is_capped_until_it_is_not() -> None:
    metrics = Metrics(config({"research": pool("acme")}))
    capped = (
        Reason(rule="demand", template="lag 40 -> 20"),
        Reason(rule="max_replicas", template="max_replicas 8: 20 -> 8"),
    )
    metrics.observe(TickEvent(0.0, (decided("research", 8, 8, capped, 20),), 0.001))
    assert lines(metrics, "agentdash_pool_capped") == [
        'agentdash_pool_capped{pool="research",tenant="acme"} 1.0'
    ]
    within = (Reason(rule="demand", template="lag 6 -> 3"),)
    metrics.observe(TickEvent(1.0, (decided("research", 8, 3, within, 3),), 0.001))
    assert lines(metrics, "agentdash_pool_capped") == [
        'agentdash_pool_capped{pool="research",tenant="acme"} 0.0'
    ]


def test_a_tenants_tokens_no_longer_known_leave_no_figure() -> None:
    metrics = Metrics(
        config(
            {"research": pool("acme")}, {"acme": {"tier": "enterprise", "daily_token_budget": 100}}
        )
    )
    metrics.observe_tokens({"acme": 25})
    assert lines(metrics, "agentdash_tenant_budget_used_ratio") == [
        'agentdash_tenant_budget_used_ratio{tenant="acme"} 0.25'
    ]
    metrics.observe_tokens({})
    assert lines(metrics, "agentdash_tenant_tokens_today") == []
    assert lines(metrics, "agentdash_tenant_budget_used_ratio") == []


def test_a_tick_that_waited_seconds_for_nats_is_measured_not_past_the_last_bucket() -> None:
    """A tick waits up to its call deadline for a stalled NATS (4 s and more): with 2.5 s the
    last bucket, the reconcile time's p99 read 2.5 s however long the ticks took."""
    metrics = Metrics(config({"research": pool("acme")}))
    metrics.observe(TickEvent(0.0, (), 4.0))
    page = metrics.render().decode()
    assert 'agentdash_reconcile_duration_seconds_bucket{le="2.5"} 0.0' in page
    assert 'agentdash_reconcile_duration_seconds_bucket{le="5.0"} 1.0' in page
