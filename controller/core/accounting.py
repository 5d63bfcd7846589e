"""What both shells count the same way, live and in virtual time: the window an arrival rate
is averaged over, the moving mean of task time, the UTC day a token budget resets on, and each
tenant's replica-seconds today (the budget's pace). No I/O and no clock: `now` is passed in."""

from __future__ import annotations

RATE_WINDOW_S = 30.0
"""Arrival rates are averaged over this many seconds (the live source and the simulator)."""

DAY_S = 86400.0
SMOOTHING = 0.1
"""Weight of the newest task in the moving mean of task time."""
MAX_WORK_S = DAY_S
"""A task reported as longer than a day is a mistake or a lie."""

OUTLIER = 5.0
"""A task counts at most this many times the current mean: one 10-minute task among 30 s
ones moves the mean by 40%, not 20x; a real shift to longer tasks still gets there within a
few dozen tasks. (3x biased bimodal pools low; 10x lets one outlier nearly double a pool of
5 s tasks. The policy suite: 84, 86 and 87 wins of 96 at 3x, 5x and 10x.)"""


def task_time(mean: float | None, work: float) -> float:
    """The moving mean of task time after one more task (the live ledger and the simulator
    share this rule)."""
    # Defence in depth behind UsageReport's bounds: nothing non-finite, negative or beyond a
    # day ever enters the mean (NaN fails every comparison, hence `not >=`).
    if not work >= 0.0:
        work = 0.0
    elif work > MAX_WORK_S:
        work = MAX_WORK_S
    if mean is None or not 0.0 <= mean <= MAX_WORK_S:
        return work
    # A mean of 0 (tasks reported as instant) would cap every later task at 0 for good.
    cap = OUTLIER * mean if mean > 0.0 else work
    return mean + SMOOTHING * ((work if work < cap else cap) - mean)


class ReplicaSeconds:
    """Per tenant, replicas integrated over the current UTC day: told each tenant's replicas
    whenever they may have changed (the live loop at every tick, the simulator at every
    scale step). No I/O."""

    def __init__(self) -> None:
        self._day = -1
        self._at: dict[str, tuple[float, int]] = {}
        """Per tenant: (since when, its replicas since then)."""
        self._sum: dict[str, float] = {}

    def set(self, tenant: str, replicas: int, now: float) -> None:
        self._roll(now)
        since, before = self._at.get(tenant, (now, 0))
        self._sum[tenant] = self._sum.get(tenant, 0.0) + before * (now - since)
        self._at[tenant] = (now, replicas)

    def today(self, now: float) -> dict[str, float]:
        self._roll(now)
        return {
            tenant: self._sum.get(tenant, 0.0) + replicas * (now - since)
            for tenant, (since, replicas) in self._at.items()
        }

    def _roll(self, now: float) -> None:
        day = int(now // DAY_S)
        if day != self._day:
            midnight = day * DAY_S
            self._sum = {}
            self._at = {t: (max(since, midnight), n) for t, (since, n) in self._at.items()}
            self._day = day
