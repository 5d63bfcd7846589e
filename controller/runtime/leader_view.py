"""What a follower shows of the leader: its decisions and the replicas it saw, as it last
published them (controller.coordination.leader_decisions), and when that was. A follower's
own simulated cluster never scales, so its view of replicas is the leader's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from controller.core.model import PoolState, ScaleDecision

SILENT_TICKS = 3
"""A leader that has sent no decisions for this many of its ticks is said to be silent (a
leader killed with -9 holds its lease until the TTL runs out)."""


class LeaderView:
    """The leader's last message, kept by a follower."""

    def __init__(self) -> None:
        self.decisions: dict[str, ScaleDecision] = {}
        self.states: dict[str, PoolState] = {}
        """Replicas and ready as the leader saw them."""
        self.heard: float | None = None
        """When (the follower's clock) the last message came: the leader sends one every
        tick, so a leader killed while its lease runs is told by its silence."""
        self._merged: object = None

    def hear(self, decisions: Iterable[ScaleDecision], ready: Mapping[str, int], at: float) -> None:
        """The leader's decisions message, with the ready pods it counted per pool."""
        self.heard = at
        self.decisions = {d.pool: d for d in decisions}
        self.states = {
            pool: PoolState(d.current, ready[pool])
            for pool, d in self.decisions.items()
            if d.observed and pool in ready
        }

    def unmerged(self) -> dict[str, ScaleDecision]:
        """The decisions heard since this was last asked (each message once)."""
        if self.decisions is self._merged:
            return {}
        self._merged = self.decisions
        return self.decisions

    def over(self, own: Mapping[str, PoolState]) -> dict[str, PoolState]:
        """Each pool's replicas and ready as the leader saw them, with the pods this process
        sees."""
        view = dict(own)
        for name, state in self.states.items():
            mine = own.get(name)
            view[name] = PoolState(
                replicas=state.replicas, ready=state.ready, pods=mine.pods if mine else ()
            )
        return view

    def silent_for(self, now: float, interval: float) -> float | None:
        """For how long the leader has sent nothing, once that is more than SILENT_TICKS of
        its ticks; else None."""
        if self.heard is None:
            return None
        silent = now - self.heard
        return silent if silent > SILENT_TICKS * interval else None
