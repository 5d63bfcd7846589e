"""Which pods are busy: the workers' busy reports, and the idle pods a scale-down takes first.

A ReplicaSet that shrinks cannot tell a busy pod from an idle one: among equally ready pods it
deletes the newest, in the middle of its task if it has one, and the task starts over
elsewhere. Kubernetes lets whoever knows better say so with the annotation
`controller.kubernetes.io/pod-deletion-cost` (lower goes first). Workers tell agentdash how
many tasks each pod has in hand (controller.sources.usage: `agentdash.busy.<tenant>`); on a
scale-down the actuator marks pods known idle (controller.actuators.kubernetes.deletion_cost, and
controller.actuators.simcluster the same way), so the ReplicaSet takes them before a busy one.

No I/O here, and `now` is passed in. Nothing is known of a pod that never reported or has not
for FORGET_S: it is then neither marked nor protected, which is today's behaviour.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NamedTuple

from controller.core.config import Config
from controller.core.model import Pod

FORGET_S = 900.0
"""A pod not heard of for this long is forgotten: its last report may no longer be true (a
lost message), so it is not known idle any more."""
IDLE_COST = -100
"""The pod-deletion-cost an idle pod is marked with (the default is 0)."""
MIN_CAP = 16
"""Pods remembered per pool at least; beyond, twice its max_replicas (a rolling update's
surge, old pods not gone yet)."""


class MarkPlan(NamedTuple):
    """Pod-deletion-cost changes before one scale-down."""

    mark: tuple[str, ...]
    """Idle pods to mark, so the ReplicaSet deletes them first."""
    unmark: tuple[str, ...]
    """Pods marked earlier that are not known idle now: a stale mark must never send a busy
    pod first."""


class BusyPods:
    """Pool -> pod -> (tasks in hand, when reported). Bounded: pools of the config only, at
    most a cap of pods per pool (the least recently reported go first), and pods that are not
    in the pool's pod list, or not reported for FORGET_S, are forgotten."""

    def __init__(self, config: Config) -> None:
        self._pods: dict[str, dict[str, tuple[int, float]]] = {name: {} for name in config.pools}
        self._cap = {name: max(MIN_CAP, 2 * p.max_replicas) for name, p in config.pools.items()}

    def report(self, pool: str, pod: str, busy: int, now: float) -> None:
        pods = self._pods.get(pool)
        if pods is None:
            return  # not a pool of the config: nothing kept
        # Re-inserted at every report, so the dict's first entry is the least recently heard.
        pods.pop(pod, None)
        if len(pods) >= self._cap[pool]:
            del pods[next(iter(pods))]
        pods[pod] = (busy, now)

    def idle(self, pool: str, pod_names: Collection[str], now: float) -> frozenset[str]:
        """The pods of `pod_names` known idle now: reported with nothing in hand, lately.
        `pod_names` is the pool's pod list: pods reported but no longer in it are gone, and
        forgotten here, as are those not heard of for FORGET_S."""
        pods = self._pods.get(pool)
        if pods is None:
            return frozenset()
        names = set(pod_names)
        for pod in [p for p, (_, at) in pods.items() if p not in names or now - at >= FORGET_S]:
            del pods[pod]
        return frozenset(pod for pod, (busy, _) in pods.items() if busy == 0)

    def in_hand(self, pool: str, pod: str, now: float) -> int | None:
        """The tasks `pod` last reported in hand, if it reported within FORGET_S; None:
        unknown (never reported, or silent since)."""
        said = self._pods.get(pool, {}).get(pod)
        return None if said is None or now - said[1] >= FORGET_S else said[0]

    def known(self, pool: str) -> int:
        """How many pods of the pool are remembered (to show the bound holds)."""
        return len(self._pods.get(pool, {}))


def plan_marks(
    pods: Sequence[Pod], marked: Collection[str], idle: Collection[str], victims: int
) -> MarkPlan:
    """Which pods to mark (and unmark) so that the `victims` pods a ReplicaSet deletes are
    idle ones where possible.

    The ReplicaSet takes pods that are not ready first, whatever their cost: they count toward
    the victims and need no mark. Of the idle ready pods, those already marked are kept
    first (no request), then the newest (those the ReplicaSet would take anyway among equals).
    """
    live = [p for p in pods if p.phase != "Terminating"]  # already on their way out
    unmark = tuple(p.name for p in live if p.name in marked and p.name not in idle)
    needed = victims - sum(1 for p in live if not p.ready)
    if needed <= 0:
        return MarkPlan((), unmark)
    candidates = sorted(
        (p for p in live if p.ready and p.name in idle),
        key=lambda p: (p.name not in marked, -p.started_at, p.name),
    )
    mark = tuple(p.name for p in candidates[:needed] if p.name not in marked)
    return MarkPlan(mark, unmark)
