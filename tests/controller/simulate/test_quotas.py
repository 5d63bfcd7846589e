"""A tenant's max_pods is a ResourceQuota in its namespace, for every policy: its pods beyond
it wait, first come first served, until one of its pods is gone; other tenants go on."""

from __future__ import annotations

from controller.core.config import Config
from controller.simulate.backtest import make_scaler
from tests.support.builders import bare_cluster, most_at_once, p95, replay, trace
from tests.support.factories import config, pool


def two_tenants(max_pods: int | None) -> Config:
    quota = {} if max_pods is None else {"max_pods": max_pods}
    return config(
        {
            "a": pool("t", max_replicas=10, termination_grace_seconds=600),
            "b": pool("t", max_replicas=10, termination_grace_seconds=600),
            "c": pool("u", max_replicas=10, termination_grace_seconds=600),
        },
        {"t": {"tier": "growth", **quota}, "u": {"tier": "growth"}},
    )


def test_a_tenants_pods_beyond_its_quota_wait_and_hold_back_no_other_tenant() -> None:
    cluster = bare_cluster(two_tenants(max_pods=2), 0, initial=[0, 0, 0])
    a, b, c = cluster.pools
    cluster.scale(0, 2, 1.0)  # tenant t at its 2 pods
    cluster.scale(1, 2, 2.0)  # so b's two wait
    cluster.scale(2, 3, 3.0)  # u has no quota: its pods are made at once
    assert (len(a.pods), len(b.pods), len(c.pods)) == (2, 0, 3)
    assert b.spec == 2  # the Deployment asks for them all the same
    cluster.scale(2, 0, 4.0)  # u's pods going makes no room in t's namespace
    assert len(b.pods) == 0
    cluster.scale(0, 1, 5.0)  # one of t's pods gone: b's first waiting pod is made
    assert (len(a.pods), len(b.pods)) == (1, 1)
    cluster.scale(0, 2, 6.0)  # a asks again: behind b's second, which asked first
    cluster.scale(0, 0, 7.0)
    assert (len(a.pods), len(b.pods), a.spec) == (0, 2, 0)


def test_a_tenant_quota_binds_the_hpa() -> None:
    burst = [(0.0, name, 60.0, 1) for name in ("a", "b", "c") for _ in range(12)]
    free, quota = two_tenants(max_pods=None), two_tenants(max_pods=4)
    tasks = trace(quota, *burst)
    unbound = replay(free, tasks, make_scaler("hpa", free))
    bound = replay(quota, tasks, make_scaler("hpa", quota))
    assert unbound.completed == bound.completed == len(tasks)
    assert most_at_once(unbound, tasks, 0, 1) > 4
    assert most_at_once(bound, tasks, 0, 1) == 4  # a and b share t's 4 pods
    for i in (0, 1):
        assert p95(bound, tasks, i) > p95(unbound, tasks, i)
    assert p95(bound, tasks, 2) == p95(unbound, tasks, 2)  # tenant u waits no longer
