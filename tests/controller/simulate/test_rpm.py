"""A provider's rpm binds every policy alike: a task starts only while its provider's
requests a minute allow it, the provider's pools take turns oldest task first, and pods
meanwhile idle at full cost."""

from __future__ import annotations

import pytest

from controller.core.config import Config
from controller.simulate.backtest import make_scaler
from controller.simulate.report import summarize
from tests.support.builders import Fixed, most_at_once, p95, replay, trace
from tests.support.factories import config, pool


def one_provider(rpm: int, **fields: object) -> Config:
    """One pool calling `llm`, 10 requests a minute per busy replica; a grace period long
    enough that no scale-down cuts a task short (so start times are final)."""
    fields = {"max_replicas": 10, "cold_start_seconds": 10, **fields}
    return config(
        {"a": pool("t", provider="llm", rpm_per_replica=10, termination_grace_seconds=600,
                   **fields)},
        providers={"llm": {"rpm": rpm}},
    )  # fmt: skip


BURST = [(0.0, "a", 60.0, 1)] * 20 + [(300.0, "a", 60.0, 1)] * 10


@pytest.mark.parametrize("policy", ["agentdash", "keda", "hpa"])
def test_the_simulated_rpm_limiter_slows_every_policy_alike(policy: str) -> None:
    free, tight = one_provider(rpm=10_000), one_provider(rpm=30)
    tasks = trace(tight, *BURST)
    unbound = replay(free, tasks, make_scaler(policy, free))
    bound = replay(tight, tasks, make_scaler(policy, tight))
    assert unbound.completed == bound.completed == len(tasks)
    assert most_at_once(unbound, tasks) > 3
    assert most_at_once(bound, tasks) == 3  # 30 rpm / 10 per busy replica
    assert p95(bound, tasks) > p95(unbound, tasks) + 60  # at least one more round of work


@pytest.mark.parametrize("policy", ["keda", "hpa"])
def test_the_baselines_scale_past_the_rpm_and_pay_for_the_idle_pods(policy: str) -> None:
    tight = one_provider(rpm=30)
    tasks = trace(tight, *BURST)
    bound = replay(tight, tasks, make_scaler(policy, tight))
    agentdash = replay(tight, tasks, make_scaler("agentdash", tight))
    # Lag is all they read: they add pods that wait for the rpm, and those pods cost.
    assert bound.pod_peak > 3
    # agentdash knows the provider's ceiling: 30 rpm x its headroom / 10 a replica
    assert agentdash.pod_peak == int(30 * tight.providers["llm"].headroom / 10) < bound.pod_peak
    assert bound.pod_seconds > agentdash.pod_seconds


def test_pools_sharing_a_provider_take_turns_oldest_task_first() -> None:
    shared = {"provider": "llm", "rpm_per_replica": 10, "cold_start_seconds": 0}
    cfg = config({"a": pool("t", **shared), "b": pool("u", **shared)},
                 providers={"llm": {"rpm": 10}})  # fmt: skip
    # Two idle pods each, but the provider allows one task at a time.
    tasks = trace(cfg, (0.0, "a", 10.0, 1), (1.0, "b", 10.0, 1), (2.0, "b", 10.0, 1),
                  (3.0, "a", 10.0, 1))  # fmt: skip
    cluster = replay(cfg, tasks, Fixed([2, 2]))
    starts = [t + w for t, w in zip(tasks.t, cluster.wait, strict=True)]
    assert starts == [0.0, 10.0, 20.0, 30.0]  # in arrival order, whichever pool frees the rpm


def test_a_task_alone_may_start_whatever_it_asks_of_the_provider() -> None:
    cfg = one_provider(rpm=7)  # less than one busy replica makes (10); with 1.5x headroom one fits
    tasks = trace(cfg, *[(0.0, "a", 10.0, 1)] * 3)
    cluster = replay(cfg, tasks, Fixed([3]))
    assert cluster.completed == 3
    assert list(cluster.wait) == [0.0, 10.0, 20.0]  # one at a time, none shut out


def test_tasks_waiting_for_the_rpm_are_lag_the_policies_see() -> None:
    cfg = one_provider(rpm=10)
    tasks = trace(cfg, *[(0.0, "a", 100.0, 1)] * 4)
    cluster = replay(cfg, tasks, Fixed([4]), drain=50.0)  # stop with one running
    p = cluster.pools[0]
    assert (len(p.queue), p.running, p.ready) == (3, 1, 4)  # three wait beside idle pods
    summary = summarize(cfg, tasks, cluster)
    assert summary["pending"] == 4
