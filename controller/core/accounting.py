"""What both shells count the same way, live and in virtual time: the window an arrival rate
is averaged over, the moving mean of task time, the day a tenant's token budget runs over (from
its reset time in its time zone: midnight UTC unless configured), a pool's tokens a task, and
each tenant's replica-seconds today (the budget's pace). No I/O and no clock: `now` is passed in."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta, tzinfo
from typing import Final, NamedTuple

MAX_RATE: Final = 1e6
"""Tasks a second: above this an arrival rate is not a measurement."""
RATE_WINDOW_S: Final = 30.0
"""Arrival rates are averaged over this many seconds (the live source and the simulator)."""

DAY_S: Final = 86400.0
SMOOTHING: Final = 0.1
"""Weight of the newest task in the moving mean of task time."""
MAX_WORK_S: Final = DAY_S
"""A task reported as longer than a day is a mistake or a lie."""

OUTLIER: Final = 5.0
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


class TokensATask:
    """A pool's tokens a task, from its workers' reports: their tokens over their count, both
    halved at each of its tenant's budget resets, so that recent days weigh more and a pool
    keeps its price from the first task after a reset (the live ledger and the simulator
    share this rule). The budget prices each pool's tasks by it: a tenant's pools of 100- and
    10,000-token tasks are not one mean apart."""

    __slots__ = ("tasks", "tokens")

    def __init__(self) -> None:
        self.tokens = 0.0
        self.tasks = 0.0

    def add(self, tokens: float) -> None:
        # Defence in depth behind UsageReport's bounds, as in task_time: nothing negative
        # or non-finite enters the price.
        self.tokens += tokens if 0.0 <= tokens < math.inf else 0.0
        self.tasks += 1.0

    def new_day(self) -> None:
        self.tokens /= 2.0
        self.tasks /= 2.0

    def mean(self) -> float | None:
        """None: no task reported yet."""
        return self.tokens / self.tasks if self.tasks > 0.0 else None


class BudgetDay(NamedTuple):
    """One budget day of a tenant: from one reset to the next (epoch seconds). 86,400 s long,
    or an hour less or more where its time zone changes clocks that day."""

    start: float
    end: float


class BudgetClock:
    """When a tenant's budget starts over: every day at `reset` (minutes after local midnight)
    in `zone` (None: UTC). `label` is how reasons name the reset ("00:00 UTC"). The day asked
    for last is kept: asking again within it is two comparisons.

    `epoch` is the Unix time of `now` = 0: 0 live, where `now` is the Unix time itself; in a
    replay, the midnight UTC of the trace's first day (`agentdash simulate --start`), so that
    a zone's offset is the one of the trace's dates, summer time included; or, for tune's
    held-out tail replayed from 0, the instant that tail starts, so that its resets fall
    where they fell in the trace."""

    __slots__ = ("_day", "epoch", "label", "reset", "zone")

    def __init__(
        self,
        reset: int = 0,
        zone: tzinfo | None = None,
        label: str = "00:00 UTC",
        epoch: float = 0.0,
    ):
        self.reset = reset
        self.zone = zone
        self.label = label
        self.epoch = epoch
        self._day = BudgetDay(math.inf, -math.inf)

    def day(self, now: float) -> BudgetDay:
        """The budget day `now` falls in."""
        day = self._day
        if day.start <= now < day.end:
            return day
        if self.zone is None:
            # (from the epoch's UTC midnight: a replay of a trace's tail starts mid-day)
            reset = self.reset * 60.0 - self.epoch % DAY_S
            start = math.floor((now - reset) / DAY_S) * DAY_S + reset
            day = BudgetDay(start, start + DAY_S)
        else:
            local = datetime.fromtimestamp(now + self.epoch, self.zone).date()
            start = self._start(local)
            if now < start:
                local -= timedelta(days=1)
                start = self._start(local)
            day = BudgetDay(start, self._start(local + timedelta(days=1)))
        self._day = day
        return day

    def _start(self, local: date) -> float:
        """The reset on a local date, as an instant. A reset inside a clock change's gap is
        read with the offset before it, a repeated one at its first occurrence (fold 0): the
        days still follow one another without a gap or an overlap."""
        hour, minute = divmod(self.reset, 60)
        when = datetime(local.year, local.month, local.day, hour, minute, tzinfo=self.zone)
        return when.timestamp() - self.epoch


UTC_MIDNIGHT = BudgetClock()
"""The default reset: 00:00 UTC."""


class ReplicaSeconds:
    """Per tenant, replicas integrated over its current budget day: told each tenant's replicas
    whenever they may have changed (the live loop at every tick, the simulator at every
    scale step). No I/O. `clocks` gives each tenant's budget day (UTC midnight if absent)."""

    def __init__(self, clocks: Mapping[str, BudgetClock] | None = None) -> None:
        self._clocks = clocks or {}
        self._at: dict[str, tuple[float, int]] = {}
        """Per tenant: (since when, its replicas since then)."""
        self._sum: dict[str, float] = {}
        self._day: dict[str, float] = {}
        """Per tenant: the start of the budget day its sum is for."""

    def set(self, tenant: str, replicas: int, now: float) -> None:
        self._roll(tenant, now)
        since, before = self._at.get(tenant, (now, 0))
        self._sum[tenant] = self._sum.get(tenant, 0.0) + before * max(now - since, 0.0)
        self._at[tenant] = (now, replicas)

    def clock_back(self, previous: float, now: float) -> None:
        """The clock stepped back to `now` from `previous`: what was counted to `previous`
        stays, and the count goes on from `now` (counted from before the step, it fell)."""
        for tenant, (_, replicas) in list(self._at.items()):
            self.set(tenant, replicas, previous)
            self._at[tenant] = (now, replicas)

    def today(self, now: float) -> dict[str, float]:
        for tenant in self._at:
            self._roll(tenant, now)
        return {
            tenant: self._sum.get(tenant, 0.0) + replicas * max(now - since, 0.0)
            for tenant, (since, replicas) in self._at.items()
        }

    def _roll(self, tenant: str, now: float) -> None:
        start = self._clocks.get(tenant, UTC_MIDNIGHT).day(now).start
        if self._day.get(tenant) != start:
            self._day[tenant] = start
            self._sum[tenant] = 0.0
            at = self._at.get(tenant)
            if at is not None:
                self._at[tenant] = (max(at[0], start), at[1])
