"""Properties of the simulated cluster over random fleets and traces (hypothesis): whatever the
policy does, no task is lost, and a provider's rpm and the pod quotas are never exceeded."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.config import Config
from controller.simulate.backtest import make_scaler
from controller.simulate.cluster import Cluster
from controller.simulate.trace import Trace
from tests.support.builders import replay, trace
from tests.support.factories import config, pool
from tests.support.strategies import examples


@st.composite
def workloads(draw: st.DrawFn, grace: st.SearchStrategy[int]) -> tuple[Config, Trace]:
    tenants = {
        f"t{i}": {"tier": "growth", "max_pods": draw(st.none() | st.integers(3, 6))}
        for i in range(draw(st.integers(1, 2)))
    }
    pools: dict[str, dict[str, Any]] = {}
    for i in range(draw(st.integers(1, 3))):
        pools[f"p{i}"] = pool(
            f"t{i % len(tenants)}",
            provider=draw(st.sampled_from([None, "llm"])),
            rpm_per_replica=draw(st.integers(0, 30)),
            concurrency=draw(st.integers(1, 3)),
            max_replicas=draw(st.integers(1, 8)),
            cold_start_seconds=draw(st.integers(0, 30)),
            termination_grace_seconds=draw(grace),
        )
    cfg = config(pools, tenants, max_pods=draw(st.integers(3, 12)),
                 providers={"llm": {"rpm": draw(st.integers(20, 60))}})  # fmt: skip
    rows = [
        (
            float(draw(st.integers(0, 900))),
            draw(st.sampled_from(list(pools))),
            float(draw(st.integers(1, 300))),
            1,
        )
        for _ in range(draw(st.integers(1, 40)))
    ]
    return cfg, trace(cfg, *rows)


def rpm_in_use_peaks(cfg: Config, tasks: Trace, cluster: Cluster) -> list[tuple[float, int]]:
    """(most requests a minute, tasks running then) whenever the provider's running set
    changes, from each task's (final) start and its work."""
    pools = list(cfg.pools.values())
    edges: list[tuple[float, int, float]] = []
    for i, wait in enumerate(cluster.wait):
        p = pools[tasks.pool[i]]
        if wait >= 0 and p.provider == "llm" and p.rpm_per_replica > 0:
            start, each = tasks.t[i] + wait, p.rpm_per_replica / p.concurrency
            edges += [(start, 1, each), (start + tasks.work_s[i], -1, -each)]
    peaks, rpm, running = [], 0.0, 0
    for _, step, each in sorted(edges):  # at a tie a task ends before the next starts
        running += step
        rpm += each
        peaks.append((rpm, running))
    return peaks


@settings(max_examples=examples(60), deadline=None)
@given(workloads(grace=st.just(3600)), st.sampled_from(["keda", "hpa"]))
def test_no_policy_runs_past_a_providers_rpm_or_the_quotas(
    work: tuple[Config, Trace], policy: str
) -> None:
    cfg, tasks = work
    cluster = replay(cfg, tasks, make_scaler(policy, cfg), drain=4 * 3600)
    assert cluster.redelivered == 0  # the grace period outlasts every task
    limit = cfg.providers["llm"].rpm
    for rpm, running in rpm_in_use_peaks(cfg, tasks, cluster):
        assert rpm <= limit + 1e-6 or running == 1  # a lone task may always start
    assert cluster.pod_peak <= cfg.cluster.max_pods


@settings(max_examples=examples(60), deadline=None)
@given(workloads(grace=st.integers(0, 60)), st.sampled_from(["keda", "hpa"]))
def test_no_task_is_lost_whatever_the_scale_downs_cut_short(
    work: tuple[Config, Trace], policy: str
) -> None:
    cfg, tasks = work
    cluster = replay(cfg, tasks, make_scaler(policy, cfg), drain=0)  # stop at the last arrival
    waiting = sum(len(p.queue) for p in cluster.pools)
    running = sum(p.running for p in cluster.pools)
    assert cluster.completed + waiting + running == len(tasks)
    assert sum(1 for w in cluster.wait if w >= 0) == cluster.completed + running
    drained = replay(cfg, tasks, make_scaler(policy, cfg), drain=6 * 3600)
    assert drained.completed == len(tasks)  # redelivered tasks too
