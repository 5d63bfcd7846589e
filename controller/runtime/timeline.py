"""Each pool's replicas, desired, ready and lag over the last hour: what Describe plots.

The loop samples every pool at most every STEP_S and keeps a point only where one of the four
changed, so a quiet pool costs one point and a busy one at most WINDOW_S / STEP_S + 1: memory
is bounded per pool whatever the tick rate. A value holds until the next point.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import NamedTuple

STEP_S = 10.0
WINDOW_S = 3600.0
POINTS = int(WINDOW_S / STEP_S) + 1


class Point(NamedTuple):
    ts: float
    replicas: int
    desired: int
    ready: int
    lag: int


class Timeline:
    def __init__(self) -> None:
        self._points: dict[str, deque[Point]] = {}
        self.sampled = -float("inf")
        """When the pools were last sampled."""

    def due(self, now: float) -> bool:
        return now - self.sampled >= STEP_S

    def sample(self, now: float, pools: Iterable[tuple[str, Point]]) -> None:
        """Every pool as it is at `now`: (name, point) pairs."""
        self.sampled = now
        for name, point in pools:
            points = self._points.get(name)
            if points is None:
                points = self._points[name] = deque(maxlen=POINTS)
            elif points[-1][1:] == point[1:]:
                continue  # nothing moved: the last point holds
            points.append(point)

    def points(self, pool: str, now: float) -> list[Point]:
        """The pool's points over the last WINDOW_S, the one in force at its start first."""
        points = list(self._points.get(pool, ()))
        start = now - WINDOW_S
        first = next((k for k, p in enumerate(points) if p.ts > start), len(points))
        return points[max(0, first - 1) :]
