"""What the keep-alive learns per pool, apart from how it decides: the replica levels it
learns apart (`bands`), each level's uses and the gaps between them (`Level`), the heads
of the bursts the pool woke from zero for (`Wakes`), and what a reading says of its tasks
(`Pace`). controller.core.keepalive feeds them every recommendation and prices their plans.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from controller.core.record import Record
from controller.core.ski_rental import Plan, plan

KEPT_GAPS: Final = 48
"""The newest gaps a level remembers: enough for a tail, few enough to follow a change."""
MAX_GAP_S: Final = 86400.0
"""A longer gap counts as this long: no hold is that long anyway."""


def bands(max_replicas: int) -> tuple[int, ...]:
    """The levels learned apart: every replica count up to 4, then about 25% apart (each
    band's pods are held or released together)."""
    levels = [1]
    while levels[-1] < max_replicas:
        step = max(1, levels[-1] // 4)
        levels.append(levels[-1] + step)
    return tuple(level for level in levels if level <= max_replicas)


class Pace(Record):
    """What a reading says of a pool's tasks, for the price of a miss (None: not known)."""

    FIELDS = ("task_s", "rate", "lag")
    __slots__ = FIELDS

    task_s: float | None
    """The mean time a task takes."""
    rate: float | None
    """Tasks arriving a second."""
    lag: int | None
    """Tasks queued or in flight."""

    def __init__(self, *, task_s: float | None, rate: float | None, lag: int | None = None) -> None:
        self.task_s = task_s
        self.rate = rate
        self.lag = lag


class Price(Record):
    """What a level's plan was priced at (`Level.planned`): with the same gaps, the same
    price makes the same plan."""

    FIELDS = ("cold_start", "miss_s", "head", "taken", "weight")
    __slots__ = FIELDS

    cold_start: float
    miss_s: float
    head: float | None
    taken: float | None
    weight: float

    def __init__(
        self,
        *,
        cold_start: float,
        miss_s: float,
        head: float | None,
        taken: float | None,
        weight: float,
    ) -> None:
        self.cold_start = cold_start
        self.miss_s = miss_s
        self.head = head
        self.taken = taken
        self.weight = weight


@dataclass(slots=True)
class Level:
    """One band of replicas: when the pool last needed at least `replicas` (while it still
    does, its newest record), the most it needed within the band then, and the gaps between
    its needs."""

    replicas: int
    top: int
    """The band's highest replica count (the next band starts above it)."""
    in_use: bool = False
    last_used: float | None = None
    """When the level's last use ended (meaningless while `in_use`)."""
    peak: int = 0
    """The highest recommendation within this band during its last use: what a hold keeps."""
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=KEPT_GAPS))
    """Set only by `start` and `remember`, which keep `ordered` along with it."""
    ordered: list[float] = field(default_factory=list)
    """The same gaps, sorted, as the plan reads them: kept as each gap comes and goes, where
    sorting all of them again at each plan would cost as much as the plan."""
    plan: Plan | None = None
    """Worked out when first asked after a gap is added (None: not yet)."""
    share: float | None = None
    """The tasks a released pod makes wait, as the plan was priced (KeepAlive.share); it
    stands while the level is out of use (None: priced by the pool's share of now)."""
    made: Plan | None = None
    """The plan last made from these gaps, at `priced`: a plan forgotten because its price
    may have moved (a wake's head learned, the pool's pace) is made again only if it did:
    at most wakes, the mean of the heads stays as it was."""
    priced: Price | None = None

    def start(self, now: float, cold_start: float) -> bool:
        """The level is needed again at `now`; whether that taught it a gap."""
        learned = False
        if self.last_used is not None:
            gap = min(now - self.last_used, MAX_GAP_S)
            if gap >= cold_start and gap > 0:
                gaps, ordered = self.gaps, self.ordered
                if len(gaps) == gaps.maxlen:  # the oldest goes as the newest comes
                    del ordered[bisect_left(ordered, gaps[0])]
                gaps.append(gap)
                insort(ordered, gap)
                self.plan = self.made = None
                learned = True
        self.in_use = True
        self.peak = 0
        return learned

    def remember(self, gaps: Iterable[float]) -> None:
        """Take `gaps` for the level's own (a handover's): its plan is made again from them."""
        self.gaps = deque(gaps, maxlen=KEPT_GAPS)
        self.ordered = sorted(self.gaps)
        self.plan = self.made = None

    def planned(
        self,
        cold_start: float,
        miss_s: float,
        *,
        head: float | None = None,
        taken: float | None = None,
        weight: float = 1.0,
    ) -> Plan:
        """The level's plan for a miss priced at `miss_s`, with what priced it (`head`,
        `taken`, `weight`: shown in the reasons); made again only after the plan is forgotten
        (a gap learned, or the price moved), and then only if learned from other gaps or
        priced otherwise than the plan `made` last."""
        if self.plan is None:
            price = Price(
                cold_start=cold_start, miss_s=miss_s, head=head, taken=taken, weight=weight
            )
            if self.made is None or price != self.priced:
                self.made = plan(
                    self.ordered, cold_start, miss_s, head=head, taken=taken, weight=weight
                )
                self.priced = price
            self.plan = self.made
        return self.plan


@dataclass(slots=True)
class Wakes:
    """The heads of the bursts a pool woke from zero for: per wake (its recommendation rising
    from 0), the most replicas asked for within one cold start of it. Released to zero, a pool
    makes such a head wait whole, not one pod's share (KeepAlive.first_miss)."""

    heads: deque[int] = field(default_factory=lambda: deque(maxlen=KEPT_GAPS))
    waking: float | None = None
    """When the pool last woke from zero, until one cold start later."""
    head: int = 0
    """The most replicas asked for since `waking`."""

    def ended(self, now: float, cold_start: float) -> bool:
        """Whether a wake's cold start is over by `now`: its head is then learned."""
        if self.waking is None or now < self.waking + cold_start:
            return False
        self.heads.append(self.head)
        self.waking = None
        return True

    def see(self, now: float, before: int, value: int) -> None:
        """A recommendation `value` recorded at `now`, after `before`."""
        if self.waking is not None:
            self.head = value if value > self.head else self.head
        elif before == 0 and value > 0:
            self.waking, self.head = now, value

    def mean(self) -> float | None:
        """The replicas the recent wakes asked for within a cold start (None: none seen)."""
        return sum(self.heads) / len(self.heads) if self.heads else None
