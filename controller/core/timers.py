"""When pools' claims may change by time alone: the engine's alarm clock.

Each pool has at most one time set (a newer one replaces it); `due` hands back, earliest first,
the pools whose time has come. A heap of (time, pool) with the replaced entries left in it and
skipped when they surface, so that setting a time is O(log n) and nothing is searched.
"""

from __future__ import annotations

import heapq
import math
from typing import Final, NamedTuple

SLACK: Final = 1e-6
"""A time due within this long of a step counts as due at it (float noise)."""


class Alarm(NamedTuple):
    """Pool `pool`'s time; the heap orders by `due`."""

    due: float
    pool: int


class Timers:
    """One time a pool, earliest first (see the module's docstring)."""

    def __init__(self, pools: int) -> None:
        self._heap: list[Alarm] = []
        self._set = [math.inf] * pools
        """Each pool's time as last set (inf: none); a heap entry for another time is stale."""

    def set(self, pool: int, due: float) -> None:
        """Pool `pool`'s time is now `due` (inf: none)."""
        if due != self._set[pool]:
            self._set[pool] = due
            if due < math.inf:
                heapq.heappush(self._heap, Alarm(due=due, pool=pool))

    def due(self, now: float) -> list[int]:
        """The pools whose time is at or before `now`, their times cleared."""
        heap, times = self._heap, self._set
        pools: list[int] = []
        while heap and heap[0].due <= now + SLACK:
            alarm = heapq.heappop(heap)
            if alarm.due == times[alarm.pool]:
                times[alarm.pool] = math.inf
                pools.append(alarm.pool)
        return pools

    def earliest(self) -> float:
        """No pool's time is before this (a replaced entry may make it early: never late)."""
        return self._heap[0].due if self._heap else math.inf
