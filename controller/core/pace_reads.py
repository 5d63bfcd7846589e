"""What the budget's pace reads of each tenant, kept by the engine as it reads: the replicas it
runs (its replica-seconds today), its spend sampled at every step (controller.core.spend_samples),
and, once a minute (controller.core.spend_read.PACE_READ_S), both read for the pace.

Both dictionaries the policy reads, `spent` and `reads`, are updated in place: the engine's
`Observations` holds them, never a copy.
"""

from __future__ import annotations

import math

from controller.core.accounting import ReplicaSeconds
from controller.core.config import Config
from controller.core.record import Record
from controller.core.spend import GAP_S, SpendBook
from controller.core.spend_read import PACE_READ_S, SpendRead
from controller.core.spend_samples import Sample, SpendSamples
from controller.core.tenant_tokens import TenantTokens


class Paced(Record):
    """What a step of the pace's reads moved, for the engine to claim again."""

    FIELDS = ("read", "repriced")
    __slots__ = FIELDS

    read: bool
    """Whether the pace read every tenant at this step (the first step in a minute)."""
    repriced: set[str]
    """Tenants whose tokens a task may have moved with this step's sample or read (the
    landing's price, and an unpriced pool's cap)."""

    def __init__(self, *, read: bool, repriced: set[str]) -> None:
        self.read = read
        self.repriced = repriced


class PaceReads:
    def __init__(self, config: Config, tokens: TenantTokens) -> None:
        self.tokens = tokens
        self.replica_seconds = ReplicaSeconds(
            {name: tenant.clock for name, tenant in config.tenants.items()}
        )
        """Each tenant's replicas over its budget day, as read."""
        self.samples = SpendSamples(config)
        """Each budgeted tenant's spend, sampled at every step: its forecast."""
        self.replicas = dict.fromkeys(config.tenants, 0)
        self.lag = dict.fromkeys(config.tenants, 0)
        """Tasks waiting per tenant, as read: with each tenant's tasks done, what its spend
        forecast learns it asks for."""
        self._moved: set[str] = set()
        """Tenants whose replicas changed since the last step."""
        self.spent: dict[str, float] = {}
        self.reads: dict[str, SpendRead] = {}
        """Each budgeted tenant's spend, as the pace last read it (with `spent`, its
        replica-seconds today): once a minute, at the first step in it."""
        self.next_read = -math.inf

    def replicas_moved(self, tenant: str, delta: int) -> None:
        self.replicas[tenant] += delta
        self._moved.add(tenant)

    def lag_moved(self, tenant: str, delta: int) -> None:
        self.lag[tenant] += delta
        self.samples.moved.add(tenant)

    def told(self, tenant: str) -> None:
        """The tenant's tokens or tasks done were told anew: its next sample counts."""
        self.samples.moved.add(tenant)

    def step(self, step: int, now: float, previous: float) -> Paced:
        """The `step`-th step, at `now` (the one before was at `previous`): the replicas
        counted, each budgeted tenant's spend sampled (and at the skipped steps: all counted
        where the pace reads them), and at the first step in a minute, the pace's reading."""
        for tenant in self._moved:
            self.replica_seconds.set(tenant, self.replicas[tenant], now)
        self._moved.clear()
        read = now >= self.next_read
        counted = self.samples.book.tenants.keys() if read else ()
        repriced = self.samples.moved & self.reads.keys()
        self.samples.sample(step, now, previous, self._sample, counted)
        for name in repriced:  # their tokens a task, as of this step's sample (the landing's)
            per_task = self.samples.book.tenants[name].per_task()
            self.reads[name] = self.reads[name].priced(per_task)
        if read:
            self.next_read = (math.floor(now / PACE_READ_S) + 1) * PACE_READ_S
            self.spent.update(self.replica_seconds.today(now))
            for name, spend in self.samples.book.tenants.items():
                before = self.reads.get(name)
                made = self.reads[name] = spend.read(now)
                if before is None or made.per_task != before.per_task:
                    repriced.add(name)
        return Paced(read=read, repriced=repriced)

    def _sample(self, tenant: str) -> Sample | None:
        """What a tenant's spend is told now (None: no tokens known)."""
        used = self.tokens.used.get(tenant)
        if used is None:
            return None
        return Sample(
            used=used,
            tasks=self.tokens.tasks_today.get(tenant),
            lag=self.lag[tenant],
            learn=tenant not in self.tokens.stale,
        )

    def clock_back(self, step: int, previous: float, now: float) -> None:
        """The clock stepped back to `now` before the `step`-th step: the pace reads every
        tenant at once, not at the minute it had booked on the clock before the step (an hour
        on, for a step of an hour), and the samples count from `now`."""
        self.samples.clock_back(step, previous, now)
        self.replica_seconds.clock_back(previous, now)
        self.next_read = -math.inf

    def calm_until(self, previous: float) -> float:
        """Until when (exclusive) a step reads nothing for the pace: no budget day ending, no
        gap in the samples long enough to count as one, no minute's reading."""
        calm = self.samples.day_ends
        gap = previous + GAP_S
        calm = gap if gap < calm else calm
        if self.samples.book.tenants and self.next_read < calm:
            calm = self.next_read
        return calm

    def settle(self, step: int, previous: float) -> SpendBook:
        """Each budgeted tenant's spend, every sample counted (what a successor takes over)."""
        return self.samples.settle(step, previous)
