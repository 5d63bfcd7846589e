"""The baselines reproduce the HPA's formula, tolerance, windows and rates, and KEDA's
activation and cooldown, on cases computed by hand."""

from __future__ import annotations

import pytest

from controller.simulate.backtest import make_scaler
from controller.simulate.baselines import BaselineSettings, KedaScaler
from controller.simulate.cluster import Cluster
from controller.simulate.hpa import HpaSpec, HpaState, proposal, reconcile
from tests.support.builders import replay, trace
from tests.support.factories import config, pool


@pytest.mark.parametrize(
    ("status", "lag", "target", "expected"),
    [
        (4, 10, 2, 5),  # usage ratio 10 / (2 x 4) = 1.25: outside 1 +- 0.1, so ceil(10 / 2)
        (4, 21, 5, 4),  # ratio 21 / 20 = 1.05: within tolerance, keep 4 (not ceil(4.2) = 5)
        (4, 17, 5, 4),  # ratio 17 / 20 = 0.85: outside, ceil(3.4) = 4 again
        (5, 12, 3, 4),  # ratio 12 / 15 = 0.8: outside, ceil(4) = 4
        (3, 0, 2, 0),  # no lag: ratio 0, ceil(0) = 0 (min replicas clamps it later)
        (0, 3, 2, 2),  # no pods yet (quota): divide by zero is +Inf in Go, so ceil(3 / 2)
        (0, 0, 2, 0),  # 0 / 0 is NaN in Go: the count stays 0
        (1, 3, 0.1, 30),  # milli-units: 3000 / 100 = 30 exactly, not 31 from float error
        (1, 3, 0.0004, 3000),  # a target under the units' thousandth reads as 0.001
        (0, 3, 0.0004, 3000),
    ],
)
def test_the_proposal_is_the_hpa_formula_with_its_tolerance(
    status: int, lag: float, target: float, expected: int
) -> None:
    assert proposal(status, lag, target, 0.1) == expected


def test_a_target_lag_under_a_thousandth_replays_under_keda_and_the_hpa() -> None:
    cfg = config({"a": pool("t", target_lag_per_replica=0.0004, max_replicas=5)})
    tasks = trace(cfg, *[(float(t), "a", 30.0, 100) for t in range(3)])
    for name in ("keda", "hpa"):
        cluster = replay(cfg, tasks, make_scaler(name, cfg))
        assert cluster.completed == 3


def hpa(min_replicas: int = 1, max_replicas: int = 50, target: float = 2) -> HpaSpec:
    return BaselineSettings().hpa_spec(min_replicas, max_replicas, target)


def test_scale_up_is_at_most_max_of_4_pods_and_100_percent_per_15_s() -> None:
    spec, state = hpa(), HpaState()
    replicas, seen = 1, []
    for now in (0.0, 15.0, 30.0, 45.0):  # a lag of 40 wants 20 replicas all along
        replicas = reconcile(spec, state, now, replicas, replicas, 40)
        seen.append(replicas)
    # 1 -> max(1 + 4, 2 x 1) = 5 -> max(9, 10) = 10 -> max(14, 20) = 20 -> 20
    assert seen == [5, 10, 20, 20]


def test_the_up_rate_counts_from_the_start_of_the_period() -> None:
    spec, state = hpa(), HpaState()
    assert reconcile(spec, state, 0.0, 1, 1, 40) == 5
    # 10 s later the period that began with 1 replica is not over: still at most 5.
    assert reconcile(spec, state, 10.0, 5, 5, 40) == 5
    assert reconcile(spec, state, 15.0, 5, 5, 40) == 10


def test_scale_down_waits_for_the_300_s_window_then_drops_at_once() -> None:
    spec, state = hpa(), HpaState()
    assert reconcile(spec, state, 0.0, 10, 10, 20) == 10  # ratio 1: stay
    assert reconcile(spec, state, 15.0, 10, 10, 2) == 10  # wants 1; 10 seen in the window
    assert reconcile(spec, state, 299.0, 10, 10, 2) == 10
    # At 301 s the recommendations of time 0 are out; 100% per 15 s lets it go to min (1).
    assert reconcile(spec, state, 301.0, 10, 10, 2) == 1


def test_min_and_max_bound_the_hpa_and_zero_disables_it() -> None:
    spec, state = hpa(min_replicas=2, max_replicas=6), HpaState()
    assert reconcile(spec, state, 0.0, 1, 1, 0) == 2  # below min: to min
    assert reconcile(spec, state, 15.0, 9, 9, 100) == 6  # above max: to max
    assert reconcile(spec, HpaState(), 0.0, 0, 0, 100) == 0  # at 0 with min 2: disabled


def keda_run(tasks: int, **fields: object) -> Cluster:
    cfg = config({"a": pool("t", max_replicas=20, cold_start_seconds=0, **fields)})
    return replay(cfg, trace(cfg, *[(0.0, "a", 10.0, 1)] * tasks), KedaScaler(cfg), drain=600)


def test_keda_activates_only_above_the_activation_lag() -> None:
    assert keda_run(5, activation_lag=5).steps == []  # lag 5 is not > activationLagThreshold 5
    assert keda_run(6, activation_lag=5).steps[0] == (0.0, "a", 0, 1)


def test_keda_wakes_to_one_its_hpa_scales_and_the_cooldown_returns_to_zero() -> None:
    # Five 10 s tasks at 0, 2 lag per replica. The poll at 0 wakes the pool (0 -> 1); the HPA
    # syncing at the same instant sees lag 5 on 1 pod: ceil(5 / 2) = 3 (within max(1 + 4, 2)).
    # The work is done by 20 s. The HPA wants 1, then 0, but holds 3 for its 300 s window;
    # KEDA's cooldown (300 s after the last active poll, at 0 s) is over at the poll at 300 s,
    # which scales to 0 before the HPA syncs (tests/controller/simulate/test_keda_referee.py).
    assert keda_run(5, target_lag_per_replica=2).steps == [
        (0.0, "a", 0, 1),
        (0.0, "a", 1, 3),
        (300.0, "a", 3, 0),
    ]


def test_keda_returns_to_zero_after_the_pools_own_cooldown() -> None:
    # As test_keda_wakes_to_one..., with cooldownPeriod 60 (an imported pool's cooldown_seconds):
    # the polls at 0, 30 and 60 s; the one at 60 s is a cooldown after the last active one.
    assert keda_run(5, target_lag_per_replica=2, cooldown_seconds=60).steps == [
        (0.0, "a", 0, 1),
        (0.0, "a", 1, 3),
        (60.0, "a", 3, 0),
    ]


def test_kedas_hpa_scales_down_by_the_pools_own_behavior() -> None:
    # An imported ScaledObject's behavior: no scale-down window, 1 pod per 15 s; its scaleUp
    # left out, so the HPA's. At 15 s two tasks still run (ceil(2 / 2) = 1: one pod less),
    # at 30 s none (1, KEDA's HPA's floor); the cooldown's poll at 300 s takes the last.
    down = {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 15}],
    }
    assert keda_run(5, target_lag_per_replica=2, behavior={"scaleDown": down}).steps == [
        (0.0, "a", 0, 1),
        (0.0, "a", 1, 3),
        (15.0, "a", 3, 2),
        (30.0, "a", 2, 1),
        (300.0, "a", 1, 0),
    ]
