"""A follower's view of the leader: the leader's replicas over its own, each message merged
once, and a leader that stops talking called silent after three of its ticks."""

from __future__ import annotations

from controller.core.model import Pod, PoolState, ScaleDecision
from controller.runtime.leader_view import LeaderView


def decision(pool: str, current: int, *, observed: bool = True) -> ScaleDecision:
    return ScaleDecision(
        pool=pool, tenant="acme", current=current, desired=current, reasons=(), observed=observed
    )


def test_the_leaders_replicas_show_over_the_followers_own_with_the_followers_pods() -> None:
    view = LeaderView()
    view.hear([decision("a", 5), decision("b", 2, observed=False)], {"a": 4, "b": 0}, at=10.0)
    pod = Pod(name="a-1", pool="a", phase="Running", ready=True, started_at=0.0)
    own = {"a": PoolState(replicas=0, ready=0, pods=(pod,)), "c": PoolState(1, 1)}
    shown = view.over(own)
    assert shown["a"] == PoolState(replicas=5, ready=4, pods=(pod,))
    assert shown["c"] == PoolState(1, 1)
    assert "b" not in shown  # the leader never saw b: nothing to show over ours


def test_each_message_is_merged_once() -> None:
    view = LeaderView()
    view.hear([decision("a", 5)], {"a": 5}, at=10.0)
    assert set(view.unmerged()) == {"a"}
    assert view.unmerged() == {}
    view.hear([decision("a", 6)], {"a": 6}, at=11.0)
    assert view.unmerged()["a"].current == 6


def test_a_leader_is_silent_after_three_of_its_ticks() -> None:
    view = LeaderView()
    assert view.silent_for(100.0, interval=1.0) is None  # never heard: not silent, unknown
    view.hear([], {}, at=100.0)
    assert view.silent_for(103.0, interval=1.0) is None
    assert view.silent_for(103.5, interval=1.0) == 3.5
    assert view.silent_for(125.0, interval=10.0) is None
