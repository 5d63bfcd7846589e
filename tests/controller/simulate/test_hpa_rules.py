"""The HPA model's rules where the real controller has two sets: an HPA without `behavior`
(the controller's older rules, in every release), and Kubernetes 1.20's stabilization and rate
periods (benchmarks/hpa_fidelity.py runs the real 1.20 controller as referee). Each case was
computed by hand from pkg/controller/podautoscaler/horizontal.go."""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.simulate.hpa import (
    DEFAULT_DOWN,
    DEFAULT_UP,
    HpaPolicy,
    HpaSpec,
    HpaState,
    ScalingRules,
    reconcile,
)


def without_behavior(window: float = 25.0) -> HpaSpec:
    """An HPA whose spec has no `behavior`, target 2, 1 to 20 replicas; `window` is the
    controller's --horizontal-pod-autoscaler-downscale-stabilization."""
    return HpaSpec(1, 20, 2.0, down=ScalingRules(window, DEFAULT_DOWN.policies), behavior=False)


def run(spec: HpaSpec, syncs: list[tuple[float, float]], replicas: int = 1) -> list[int]:
    """The replicas after each (time, lag) sync, pods appearing at once."""
    state, seen = HpaState(), []
    for now, lag in syncs:
        replicas = reconcile(spec, state, now, replicas, replicas, lag)
        seen.append(replicas)
    return seen


def test_without_behavior_each_sync_at_most_doubles_or_reaches_4() -> None:
    # As the real 1.20 controller did, syncing every 2 s on a lag of 40 (20 wanted):
    # max(2 x 1, 4) = 4, then 8, 16, and the max of 20; no period, so the sync rate is the
    # rate. The documented default behavior gives 1 -> 5, 10 after 15 s, 20 after 30 s.
    assert run(without_behavior(), [(t, 40) for t in (0, 2, 4, 6, 8)]) == [4, 8, 16, 20, 20]
    with_defaults = replace(without_behavior(), up=DEFAULT_UP, behavior=True)
    assert run(with_defaults, [(t, 40) for t in (0, 2, 15.5, 31)]) == [5, 5, 10, 20]


def test_without_behavior_the_window_holds_then_it_drops_at_any_rate() -> None:
    seen = run(without_behavior(), [(0, 40), (2, 40), (4, 40), (6, 40), (10, 6), (30, 6), (32, 6)])
    # 20 proposed at 0 to 6 s: held while a 20 is in the 25 s window (to 31 s), then
    # straight to the 3 a lag of 6 asks for, with no scale-down rate.
    assert seen == [4, 8, 16, 20, 20, 20, 3]


def test_without_behavior_the_highest_proposal_of_the_window_is_sought_even_going_up() -> None:
    # 20 proposed, 4 allowed; then 5 proposed: the window's highest (20) is still the aim,
    # within max(2 x 4, 4) = 8. With behavior, the up window (0 s) aims at the 5 proposed.
    assert run(without_behavior(), [(0, 40), (2, 10)]) == [4, 8]
    with_defaults = replace(without_behavior(), up=DEFAULT_UP, behavior=True)
    assert run(with_defaults, [(0, 40), (16, 10)], replicas=3) == [7, 7]


FAST = ScalingRules(0.0, (HpaPolicy("Pods", 4, 1.0),))
"""Up by 4 pods a second, no window."""


@pytest.mark.parametrize(("release_1_20", "expected"), [(False, [6, 6]), (True, [6, 10])])
def test_in_1_20_a_proposal_below_the_count_follows_the_down_window_even_up(
    release_1_20: bool, expected: list[int]
) -> None:
    """Later releases keep the count within [up window's lowest, down window's highest];
    1.20 takes the down window's highest whenever the proposal is below the count: a 20
    still in the window scales it up, though 4 is proposed."""
    spec = HpaSpec(
        1, 20, 2.0, up=FAST, down=ScalingRules(30.0, DEFAULT_DOWN.policies),
        kubernetes_1_20=release_1_20,
    )  # fmt: skip
    assert run(spec, [(0, 40), (2, 8)], replicas=2) == expected


@pytest.mark.parametrize(("release_1_20", "expected"), [(False, [4, 12]), (True, [4, 6])])
def test_in_1_20_a_rate_period_counts_only_the_changes_its_own_way(
    release_1_20: bool, expected: list[int]
) -> None:
    """10 -> 4 at 0 s, then 20 wanted at 10 s, up by 2 pods a minute: later releases start
    the period at 10 (4 + the 6 removed), so 12; 1.20 counts only scale-ups, so from 4, 6."""
    spec = HpaSpec(
        1, 20, 2.0,
        up=ScalingRules(0.0, (HpaPolicy("Pods", 2, 60.0),)),
        down=ScalingRules(0.0, (HpaPolicy("Percent", 100, 60.0),)),
        kubernetes_1_20=release_1_20,
    )  # fmt: skip
    assert run(spec, [(0, 8), (10, 40)], replicas=10) == expected
