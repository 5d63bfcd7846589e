"""The tail of a pool's waits: how many of its tasks find it at zero, and the hold that keeps
them fewer than one in twenty.

The learned keep-alive (controller.core.keepalive) prices a miss in seconds of an idle pod
and picks the cheapest hold over the first level's gaps (ski rental). At a wait_weight of 1
that can let the last replica go through gaps whose next task then waits a whole cold start,
and where that happens to one task in twenty or more, the cold start is the pool's p95: on a
week of BurstGPT replayed into one pool, 806 wakes for 19,431 tasks, a p95 of 6.9 s
where KEDA's 300 s cooldown kept it at 0.

So a pool counts, for each gap of its first level, the tasks that arrived over that cycle
(its arrival rate integrated between readings) and those its wake made wait (the most tasks
queued or in flight within a cold start of the wake: the head of the burst). When the
ski-rental hold would leave more than TAIL_SHARE of the tasks to wakes, the first level is
held through the shortest gaps that bring the share under it, if such a hold lasts at most
TAIL_HOLD_S; a pool whose tail needs longer holds is left to the ski rental, as KEDA and the
HPA would let its pods go by then too.

Pure: times are passed in.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from controller.core.accounting import MAX_RATE
from controller.core.record import Record
from controller.core.ski_rental import MARGIN

TAIL_SHARE: Final = 0.05
"""The share of a pool's tasks a p95 leaves out: more of them waiting a cold start, and the
cold start is the p95."""
TAIL_HOLD_S: Final = 300.0
"""The longest the tail holds a replica idle: KEDA's cooldownPeriod and the HPA's scale-down
window by default. A pool whose gaps are longer is at zero under either of them too."""
KEPT_CYCLES: Final = 100
"""The newest cycles counted: enough to tell one task in twenty from one in ten across the
bursts that vary, few enough to follow a change within hours."""
MIN_CYCLES: Final = round(1 / TAIL_SHARE)
"""Cycles counted before the tail holds anything: with fewer, one wake more or less moves
the share across TAIL_SHARE."""


class Cycle(Record):
    """One gap of the first level and the busy time before it ends: how long the pool needed
    nothing, the tasks that arrived over the cycle, and those its wake made wait."""

    FIELDS = ("gap_s", "arrived", "waited")
    __slots__ = FIELDS

    gap_s: float
    arrived: float
    waited: float

    def __init__(self, *, gap_s: float, arrived: float, waited: float) -> None:
        self.gap_s = gap_s
        self.arrived = arrived
        self.waited = waited


@dataclass(slots=True)
class Tail:
    """A pool's cycles, and the tasks counted since its first level's last gap ended."""

    cycles: deque[Cycle] = field(default_factory=lambda: deque(maxlen=KEPT_CYCLES))
    arrived: float = 0.0
    """Tasks arrived since the last cycle ended (the arrival rate integrated)."""
    rate: float = 0.0
    """The arrival rate as last read: it stands until the next reading."""
    at: float | None = None
    """When the rate was last integrated to."""
    lag: int = 0
    """The lag as last read."""
    waking: float | None = None
    """Until when the newest cycle's wake counts its head (a cold start after it)."""
    _by_gap: list[Cycle] | None = None
    """The same cycles, shortest gap first, as `_hold` sweeps them (None: to be sorted
    again): kept as each cycle comes and goes, where sorting them all at each hold asked
    would cost more than the sweep."""
    _held: tuple[float, tuple[float, float] | None] | None = None
    """The last `hold` asked and its answer, until a cycle is counted or a head grows: the
    keep-alive's plans are made again far more often than the cycles change."""

    def see(self, now: float, rate: float | None, lag: int | None) -> None:
        """Count the tasks arrived until `now` at the rate read before, then take `rate` and
        `lag` (None: the reading of the time before `now` stands)."""
        if self.at is not None and now > self.at:
            self.arrived += self.rate * (now - self.at)
        if self.at is None or now > self.at:
            self.at = now
        if rate is not None and 0 <= rate <= MAX_RATE:
            self.rate = rate
        if lag is not None:
            self.lag = lag
            if self.waking is not None and self.cycles:
                if now > self.waking:
                    self.waking = None
                elif lag > self.cycles[-1].waited:
                    self.cycles[-1].waited = float(lag)
                    self._held = None

    def cycle(self, gap_s: float, now: float, cold_start: float) -> None:
        """The first level is needed again at `now` after a gap of `gap_s`: a cycle ends, its
        wake making wait the head of the burst, the most tasks queued or in flight until a
        replica is up (`see`)."""
        waited = float(max(1, self.lag))
        new = Cycle(gap_s=gap_s, arrived=max(self.arrived, waited), waited=waited)
        cycles, by_gap = self.cycles, self._by_gap
        if by_gap is not None:
            if len(cycles) == cycles.maxlen:  # the oldest goes as the newest comes
                del by_gap[bisect_left(by_gap, cycles[0].gap_s, key=_gap_of)]
            insort(by_gap, new, key=_gap_of)
        cycles.append(new)
        self.arrived = 0.0
        self.waking = now + cold_start
        self._held = None

    def share(self, hold_s: float) -> float | None:
        """The share of the counted tasks that a hold of `hold_s` after each use leaves to a
        wake (None: no cycle counted)."""
        return self._share(hold_s, sum(c.arrived for c in self.cycles))

    def _share(self, hold_s: float, total: float) -> float | None:
        """`share`, of the `total` tasks counted over the cycles."""
        if total <= 0:
            return None
        ends = hold_s / (1 + MARGIN)
        return sum(c.waited for c in self.cycles if c.gap_s > ends) / total

    def hold(self, hold_s: float) -> tuple[float, float] | None:
        """The hold that leaves at most TAIL_SHARE of the tasks to wakes, where `hold_s`
        leaves more and a hold of at most TAIL_HOLD_S covers enough gaps; with the share
        `hold_s` would have left. None: `hold_s` is enough, or nothing within TAIL_HOLD_S is."""
        if self._held is not None and self._held[0] == hold_s:
            return self._held[1]
        made = self._hold(hold_s)
        self._held = (hold_s, made)
        return made

    def _hold(self, hold_s: float) -> tuple[float, float] | None:
        if len(self.cycles) < MIN_CYCLES:
            return None
        total = sum(c.arrived for c in self.cycles)
        before = self._share(hold_s, total)
        if before is None or before <= TAIL_SHARE:
            return None
        ordered = self._by_gap
        if ordered is None:
            ordered = self._by_gap = sorted(self.cycles, key=_gap_of)
        missed = sum(c.waited for c in ordered)  # by a hold shorter than every gap
        k, n = 0, len(ordered)
        while k < n:  # the holds that cover each gap in turn, shortest first
            gap = ordered[k].gap_s
            while k < n and ordered[k].gap_s == gap:
                missed -= ordered[k].waited
                k += 1
            longer = gap * (1 + MARGIN)
            if longer <= hold_s:
                continue
            if longer > TAIL_HOLD_S:
                return None
            if missed <= TAIL_SHARE * total:
                return longer, before
        return None

    def clock_back(self, now: float) -> None:
        """The clock stepped back to `now`: the rate is integrated from `now` on."""
        if self.at is not None and self.at > now:
            self.at = now

    def merge(self, other: Tail) -> None:
        """Take another process's cycles where it has counted more."""
        if len(other.cycles) > len(self.cycles):
            self.cycles = deque(other.cycles, maxlen=KEPT_CYCLES)
            self._by_gap = self._held = None


def _gap_of(cycle: Cycle) -> float:
    """What a tail's cycles are ordered by."""
    return cycle.gap_s
