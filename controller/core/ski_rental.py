"""How long a level of a pool's replicas is worth holding after its last use, given the gaps
between its uses: ski rental (controller.core.keepalive keeps the levels and their gaps).

Holding a level costs its pods' idle seconds, until the next use or the release; releasing it
costs a miss when the next burst comes before the pods are back (in seconds of an idle pod,
as controller.core.keepalive prices it). Over the level's own gaps, `plan` picks the
cheapest of: holding until one cold start or one of the gaps (plus MARGIN), or releasing and
pre-warming a cold start before the shortest gaps end (the hybrid histogram's pre-warming of
"Serverless in the Wild", Shahrad et al., USENIX ATC 2020). With fewer than MIN_GAPS gaps,
plain ski rental: hold until the hold has cost a miss (2-competitive without knowing the
future).
"""

from __future__ import annotations

import bisect
from typing import Final

from controller.core.record import Record

MIN_GAPS: Final = 3
"""Gaps a level must have shown before its own pattern replaces the plain ski-rental hold."""
MARGIN: Final = 0.1
"""A hold lasts 10% past the gap it covers and a pre-warm starts 10% early, as the paper's
margins: a burst on time to the second must not meet its pods leaving."""


class Plan(Record):
    """What a level's gaps say: hold it `hold_s` after its last use; or, with `prewarm_s`,
    release it after one cold start and ask for it again `prewarm_s` after its last use,
    holding it until `hold_s`. `learned`: from the level's own gaps (else plain ski rental)."""

    FIELDS = (
        "hold_s",
        "prewarm_s",
        "learned",
        "gaps",
        "median_s",
        "shortest_s",
        "head",
        "taken",
        "miss_s",
        "weight",
        "tail",
    )
    __slots__ = FIELDS

    hold_s: float
    prewarm_s: float | None
    learned: bool
    gaps: int
    """How many gaps it was learned from."""
    median_s: float
    shortest_s: float
    head: float | None
    """For the first level, the replicas the wakes from zero asked for within a cold start,
    which price its miss (KeepAlive.first_miss); None: not known, or another level."""
    taken: float | None
    """The tasks a pod would take while another starts, as measured, where they priced the
    miss above a pod's share of the lag (KeepAlive.share); None: they did not."""
    miss_s: float
    """What a miss was priced at, in seconds of one idle pod."""
    weight: float
    """What a second of waiting weighed in that price, in seconds of an idle pod
    (keep_alive.wait_weight)."""
    tail: float | None
    """Where the hold was made longer for the tail of the waits (controller.core.tail): the
    share of the tasks the cheapest hold would have left to a cold start; else None."""

    def __init__(
        self,
        *,
        hold_s: float,
        prewarm_s: float | None = None,
        learned: bool = False,
        gaps: int = 0,
        median_s: float = 0.0,
        shortest_s: float = 0.0,
        head: float | None = None,
        taken: float | None = None,
        miss_s: float = 0.0,
        weight: float = 1.0,
        tail: float | None = None,
    ) -> None:
        self.hold_s = hold_s
        self.prewarm_s = prewarm_s
        self.learned = learned
        self.gaps = gaps
        self.median_s = median_s
        self.shortest_s = shortest_s
        self.head = head
        self.taken = taken
        self.miss_s = miss_s
        self.weight = weight
        self.tail = tail

    def held_for(self, hold_s: float, tail: float | None = None) -> Plan:
        """This plan, holding for `hold_s` instead (for the tail, with the share of the tasks
        its own hold left to a cold start)."""
        return Plan(
            hold_s=hold_s,
            prewarm_s=self.prewarm_s,
            learned=self.learned,
            gaps=self.gaps,
            median_s=self.median_s,
            shortest_s=self.shortest_s,
            head=self.head,
            taken=self.taken,
            miss_s=self.miss_s,
            weight=self.weight,
            tail=self.tail if tail is None else tail,
        )


def plan(
    gaps: list[float],
    cold_start: float,
    miss_s: float,
    *,
    head: float | None = None,
    taken: float | None = None,
    weight: float = 1.0,
) -> Plan:
    """The cheapest way to meet the next burst, given the gaps seen (sorted): with fewer than
    MIN_GAPS, plain ski rental; else `_cheapest` over the gaps. `head`, `taken` and `weight`:
    what priced the miss (Plan's fields, for the reasons)."""
    n = len(gaps)
    if n < MIN_GAPS:
        hold = max(miss_s, cold_start)
        return Plan(hold_s=hold, gaps=n, head=head, taken=taken, miss_s=miss_s, weight=weight)
    hold, prewarm = _cheapest(gaps, cold_start, miss_s)
    return Plan(
        hold_s=hold,
        prewarm_s=prewarm,
        learned=True,
        gaps=n,
        median_s=gaps[n // 2],
        shortest_s=gaps[0],
        head=head,
        taken=taken,
        miss_s=miss_s,
        weight=weight,
    )


def _cheapest(gaps: list[float], cold_start: float, miss_s: float) -> tuple[float, float | None]:
    """Hold for T (T = one cold start, or one of the gaps), or release and pre-warm from S (a
    cold start before one of the gaps) until T: the T and S (None: no pre-warm) of least
    expected cost per gap, that cost being the idle pod-seconds held, plus `miss_s` for each
    burst that would find the level released."""
    n = len(gaps)
    total = [0.0]
    for gap in gaps:
        total.append(total[-1] + gap)

    def held(upto: float) -> float:
        """Sum over the gaps of min(gap, upto)."""
        k = bisect.bisect_right(gaps, upto)
        return total[k] + (n - k) * upto

    def beyond(hold: float) -> int:
        """Gaps a hold until `hold` misses: those that do not end MARGIN before it."""
        return n - bisect.bisect_right(gaps, hold / (1 + MARGIN))

    after_burst = held(cold_start)
    best_hold, best_prewarm = cold_start, None
    best_cost = after_burst + miss_s * beyond(cold_start)
    holds = [gap * (1 + MARGIN) for gap in gaps if gap * (1 + MARGIN) > cold_start]
    idle, missed = _held_and_missed(gaps, total, holds)
    for k, hold in enumerate(holds):
        cost = idle[k] + miss_s * missed[k]
        if cost < best_cost:
            best_hold, best_cost = hold, cost
    # Pre-warming from S = (a gap, less MARGIN) - a cold start: the pods are up by then. Held
    # one cold start after the burst, then idle from S (booting, then warm) until the hold
    # ends; the gaps shorter than that one find the level released. Only before the shortest
    # gaps (the head of the histogram, as the paper pre-warms): from a later one, the bursts of
    # every shorter gap would be missed.
    for first in gaps[: max(1, n // 20)]:
        ready = first * (1 - MARGIN)
        start = ready - cold_start
        if start - cold_start < cold_start:
            continue  # released for less than a cold start: churn for a pittance
        early = bisect.bisect_left(gaps, ready)
        before_start = held(start)
        for k, hold in enumerate(holds):
            if hold <= ready:
                continue  # it would end before the pods it pre-warms are up
            cost = after_burst + (idle[k] - before_start) + miss_s * (early + missed[k])
            if cost < best_cost:
                best_hold, best_prewarm, best_cost = hold, start, cost
    return best_hold, best_prewarm


def _held_and_missed(
    gaps: list[float], total: list[float], holds: list[float]
) -> tuple[list[float], list[int]]:
    """For each hold (ascending), as `plan`'s held() and beyond() say: the idle pod-seconds
    over the gaps, and the gaps it misses. One sweep over the sorted gaps, since both
    bisections only move forward as the holds grow."""
    n = len(gaps)
    idle: list[float] = []
    missed: list[int] = []
    within = covered = 0  # gaps <= the hold; gaps ending MARGIN before it
    for hold in holds:
        while within < n and gaps[within] <= hold:
            within += 1
        idle.append(total[within] + (n - within) * hold)
        ends = hold / (1 + MARGIN)
        while covered < n and gaps[covered] <= ends:
            covered += 1
        missed.append(n - covered)
    return idle, missed
