"""Another writer that keeps setting a pool's replicas between two of agentdash's reads: a
fight that meets no 409 (controller.runtime.actuation counts those), so it is told by the
scales themselves. Each side undid the other's every write, an HPA every 15 s, with nothing
said (found against a real kube-apiserver)."""

from __future__ import annotations

from dataclasses import dataclass

PUT_BACKS_ARE_A_FIGHT = 3
"""So many scales in a row, each from replicas this process did not set (another writer set
them after its last scale), are a fight. It is over once a scale finds what this process
set, or FIGHT_QUIET_S pass with no other write undone."""
FIGHT_QUIET_S = 60.0


@dataclass(frozen=True, slots=True)
class Written:
    replicas: int
    """What this process's last scale of the pool set."""
    landed_by: float
    """The newest tick known when it landed: a decision of that tick or before may have read
    what was there before it, which is no other writer's."""


class PutBacks:
    """Per pool, the scales in a row that put back what another writer had set."""

    def __init__(self) -> None:
        self._written: dict[str, Written] = {}
        self._count: dict[str, int] = {}
        self._last_at: dict[str, float] = {}
        """When the newest put-back was decided."""

    def landed(
        self, pool: str, found: int, made: int, decided_at: float, tick: float
    ) -> str | None:
        """A scale decided at `decided_at` from `found` replicas to `made` landed (the newest
        tick known then: `tick`); the fight it shows, in words, or None."""
        last, self._written[pool] = self._written.get(pool), Written(made, tick)
        if last is None or found == last.replicas:
            self._count.pop(pool, None)
            return None
        if decided_at <= last.landed_by:
            return None  # decided on what was read before its last scale landed
        count = self._count[pool] = self._count.get(pool, 0) + 1
        self._last_at[pool] = decided_at
        if count < PUT_BACKS_ARE_A_FIGHT:
            return None
        return (
            f"another writer keeps setting its replicas ({found} over the {last.replicas} set"
            f" here, {PUT_BACKS_ARE_A_FIGHT} times in a row or more): is an HPA or a script"
            " scaling it?"
        )

    def fighting(self, pool: str, now: float) -> bool:
        """Whether the pool's fight goes on at `now`, its replicas where this process wants
        them (between the other writer's writes); one quiet FIGHT_QUIET_S ends it."""
        if self._count.get(pool, 0) < PUT_BACKS_ARE_A_FIGHT:
            return False
        if now - self._last_at[pool] < FIGHT_QUIET_S:
            return True
        del self._count[pool]
        return False
