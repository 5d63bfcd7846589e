"""Scale-down as a ReplicaSet does it, for every policy: the controller picks pods by readiness
and age, not by whether they are busy; a busy pod gets its grace period, and a task that
outlasts it is redelivered, waits again and still completes."""

from __future__ import annotations

import pytest

from controller.simulate.backtest import make_scaler
from controller.simulate.cluster import Cluster
from controller.simulate.report import summarize
from tests.support.builders import advance, bare_cluster, replay, trace
from tests.support.factories import config, pool


def test_scale_down_takes_the_most_recently_ready_pod_though_it_is_busy() -> None:
    cfg = config({"a": pool("t", cold_start_seconds=0)})
    cluster = bare_cluster(cfg, 2, initial=[1], work=10.0)  # pod A, ready at 0 s
    cluster.scale(0, 2, 2.0)
    advance(cluster, 2.0)  # pod B, ready at 2 s
    cluster.arrive(0, 3.0)  # A, free the longest (JetStream serves the oldest pull first)
    cluster.arrive(1, 3.0)  # then B
    cluster.scale(0, 1, 4.0)  # the ReplicaSet removes B, the most recently ready, busy or not
    assert cluster.alive == 2  # B terminates: it may finish its task first
    assert cluster.pools[0].ready == 1
    advance(cluster)
    cluster.finish()
    assert (cluster.completed, cluster.redelivered) == (2, 0)
    assert cluster.alive == 1  # A is the one kept
    assert cluster.pod_seconds == pytest.approx(1000 + (13 - 2))  # B went when done, at 13 s


def long_task_on_the_newest_pod(marks_idle: bool) -> Cluster:
    """Pod A (ready at 0 s) ran a 5 s task and is idle; pod B (ready at 2 s) is 17 s into a
    100 s one; then the pool is scaled down by one, with 30 s of grace."""
    cfg = config({"a": pool("t", cold_start_seconds=0, termination_grace_seconds=30)})
    tasks = trace(cfg, (3.0, "a", 5.0, 1), (3.0, "a", 100.0, 1))
    cluster = Cluster(cfg, tasks, initial=[1], gate_budgets=False, marks_idle=marks_idle,
                      horizon=1000.0)  # fmt: skip
    cluster.scale(0, 2, 2.0)
    advance(cluster, 2.0)
    cluster.arrive(0, 3.0)  # to A, free the longest
    cluster.arrive(1, 3.0)  # to B
    advance(cluster, 20.0)
    cluster.scale(0, 1, 20.0)
    advance(cluster)
    cluster.finish()
    return cluster


def test_unmarked_the_replicaset_cuts_the_long_task_on_the_newest_pod_short() -> None:
    cluster = long_task_on_the_newest_pod(marks_idle=False)  # KEDA, the HPA
    # B went at 50 s and its task started over on A: 47 s of work thrown away.
    assert (cluster.completed, cluster.redelivered) == (2, 1)


def test_with_idle_pods_marked_the_replicaset_takes_the_idle_one() -> None:
    # agentdash marks the pods its workers report idle with a low pod-deletion-cost.
    cluster = long_task_on_the_newest_pod(marks_idle=True)
    assert (cluster.completed, cluster.redelivered) == (2, 0)
    assert list(cluster.wait) == [0.0, 0.0]


def test_an_idle_pod_free_the_longest_takes_the_next_task() -> None:
    cfg = config({"a": pool("t", cold_start_seconds=0)})
    cluster = bare_cluster(cfg, 1, initial=[1], work=10.0)  # pod A, ready at 0 s
    cluster.scale(0, 2, 2.0)
    advance(cluster, 2.0)  # pod B, ready at 2 s
    cluster.arrive(0, 3.0)  # A's pull has waited longest: A takes it, B stays idle
    cluster.scale(0, 1, 4.0)  # the ReplicaSet removes B, idle: it goes at once
    assert cluster.alive == 1
    advance(cluster)
    cluster.finish()
    assert (cluster.completed, cluster.redelivered) == (1, 0)
    assert cluster.pod_seconds == pytest.approx(1000 + (4 - 2))


def test_a_task_outlasting_the_grace_period_goes_back_to_the_head_of_its_queue() -> None:
    cfg = config({"a": pool("t", cold_start_seconds=20, termination_grace_seconds=30)})
    tasks = trace(cfg, (0.0, "a", 100.0, 1), (5.0, "a", 100.0, 1))
    cluster = Cluster(cfg, tasks, initial=[1], gate_budgets=False, horizon=1000.0)
    cluster.arrive(0, 0.0)  # starts at once on the only pod
    cluster.arrive(1, 5.0)  # waits for it
    cluster.scale(0, 0, 10.0)  # 30 s of grace for a task that needs 90 s more
    advance(cluster, 45.0)
    assert cluster.redelivered == 1
    assert cluster.alive == 0  # the pod is gone at 40 s
    assert list(cluster.pools[0].queue) == [0, 1]  # redelivered ahead of the task that waited
    cluster.scale(0, 1, 50.0)  # a new pod, ready at 70 s
    advance(cluster)
    cluster.finish()
    assert cluster.completed == 2  # nothing lost
    # Task 0 waited 0 s, then again from 40 s to 70 s, and ran its 100 s from zero, to 170 s.
    assert list(cluster.wait) == [30.0, 170.0 - 5.0]
    assert cluster.pod_seconds == pytest.approx(40 + (1000 - 50))
    summary = summarize(cfg, tasks, cluster)
    assert summary["redelivered"] == 1
    assert summary["wait_p99_s"] == 165.0


def test_a_redelivered_task_still_waiting_at_the_end_counts_all_its_waiting() -> None:
    cfg = config({"a": pool("t", cold_start_seconds=20, termination_grace_seconds=30)})
    tasks = trace(cfg, (0.0, "a", 100.0, 1))
    cluster = Cluster(cfg, tasks, initial=[1], gate_budgets=False, horizon=500.0)
    cluster.arrive(0, 0.0)
    cluster.scale(0, 0, 10.0)
    advance(cluster)
    cluster.finish()
    summary = summarize(cfg, tasks, cluster)
    assert (summary["completed"], summary["pending"], summary["redelivered"]) == (0, 1, 1)
    assert summary["wait_p50_s"] == 500.0 - 40.0  # 0 s before its run, then since 40 s


def test_the_hpas_scale_down_cuts_a_long_task_short_and_it_still_completes() -> None:
    cfg = config({"a": pool("t", max_replicas=10, cold_start_seconds=20)})
    short = (0.0, "a", 10.0, 1)
    tasks = trace(cfg, short, short, short, (0.0, "a", 2000.0, 1))
    cluster = replay(cfg, tasks, make_scaler("hpa", cfg))
    summary = summarize(cfg, tasks, cluster)
    # The HPA scaled to 4 and, once lag fell to 1, back to 1. The long task ran on one of the
    # three new pods, which the ReplicaSet removes first; 30 s later the task went back to
    # the queue and the first pod, idle by then, ran it again from zero.
    assert [(before, after) for _, _, before, after in cluster.steps] == [(1, 4), (4, 3), (3, 1)]
    assert (summary["completed"], summary["pending"]) == (4, 0)
    assert summary["redelivered"] == 1
    assert cluster.wait[3] == 20.0  # the cold start; it waited no longer after redelivery
