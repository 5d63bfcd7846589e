"""What the budget pace and Little's law read from usage: replica-seconds per tenant today, and
a task-time mean one outlier cannot swing."""

from __future__ import annotations

import pytest

from controller.core.accounting import DAY_S, ReplicaSeconds, task_time


def test_replica_seconds_integrate_each_tenants_replicas_over_the_day() -> None:
    clock = ReplicaSeconds()
    clock.set("acme", 2, 100.0)
    clock.set("acme", 5, 160.0)  # 2 replicas for 60 s
    clock.set("globex", 1, 100.0)
    today = clock.today(200.0)  # then 5 replicas for 40 s
    assert today["acme"] == pytest.approx(2 * 60 + 5 * 40)
    assert today["globex"] == pytest.approx(100.0)


def test_replica_seconds_start_again_at_midnight() -> None:
    clock = ReplicaSeconds()
    clock.set("acme", 4, DAY_S - 100.0)
    assert clock.today(DAY_S - 50.0)["acme"] == pytest.approx(200.0)
    # Past midnight only the new day's seconds count, at the replicas still running.
    assert clock.today(DAY_S + 30.0)["acme"] == pytest.approx(4 * 30)


def test_a_long_task_moves_the_mean_task_time_by_a_bounded_step() -> None:
    mean = None
    for _ in range(30):
        mean = task_time(mean, 30.0)
    assert mean == pytest.approx(30.0)
    after = task_time(mean, 600.0)
    assert after == pytest.approx(30.0 + 0.1 * (5 * 30.0 - 30.0))  # counted as 5x the mean
    for _ in range(40):  # a real shift to longer tasks still gets there
        after = task_time(after, 120.0)
    assert after > 110.0
