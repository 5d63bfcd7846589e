"""The keep-alive each pool learns from its own traffic: how long to hold replicas it no longer
needs, and when to bring them back before the next burst.

A fixed scale-down window suits one traffic shape only: bursts every three minutes lose their
pods in a two-minute window and wait for cold starts, while a pool busy once an hour keeps
pods for nothing. So each pool learns, per replica level, the gaps between the times it needed
that level (the idle times of "Serverless in the Wild", Shahrad et al., USENIX ATC 2020, with
one histogram per level instead of one per function), and holds a level only while that is
cheaper than a cold start for the next burst (ski rental over the pool's own gaps):

- holding a level costs its pods' idle seconds, until the next use or the release;
- releasing it costs a miss when the next burst comes before the pods are back: the cold
  start paid again and the tasks it delays, in seconds of an idle pod. A pod of a higher
  level delays its own share of the tasks (`KeepAlive.share`: target_lag_per_replica, or
  the tasks it would have taken while starting, by the pool's measured task time and
  arrival rate); the first level, released, leaves the pool at zero, and the head of the
  next burst waits whole: its miss is priced by the heads the pool's own wakes from zero
  met (`KeepAlive.first_miss`);
- where gaps recur, the level may instead be released after the burst and pre-warmed a cold
  start before the shortest gap ends (the hybrid histogram's pre-warming), when that costs
  less than holding through the gap;
- the first level is held longer where its wakes would otherwise make more than one task in
  twenty wait a cold start, which a p95 then shows (controller.core.tail).

Gaps shorter than a cold start are not counted: a level is always held for one cold start
after its last use, since releasing a pod cannot bridge a gap shorter than starting one. A
level with fewer than MIN_GAPS gaps has no pattern yet and is held as plain ski rental would
(2-competitive without knowing the future): until the hold has cost as much as a miss. The
costs and the choice of plan are controller.core.ski_rental's.

Pure: times are passed in. controller.core.history feeds it every recommendation it records,
controller.core.policy asks it what to hold, and controller.coordination.handover saves it
with the rest of a pool's history, so a new leader holds what the old one would have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from controller.core.accounting import MAX_RATE
from controller.core.config import PoolConfig
from controller.core.keepalive_levels import MAX_GAP_S, Level, Pace, Wakes, bands
from controller.core.keepalive_merge import take_in
from controller.core.record import Record
from controller.core.ski_rental import Plan, plan
from controller.core.tail import Tail

SHARE_MOVES: Final = 0.2
"""A measured pace changes the levels' price of a miss once it moves it by more than this
(20%): the plans are not made again for every wobble of a mean."""


class Hold(Record):
    """What the learned keep-alive asks for now: at least `replicas` (0: nothing held), the
    plan that says so, and until when this stands by itself."""

    FIELDS = ("replicas", "plan", "until", "since")
    __slots__ = FIELDS

    replicas: int
    plan: Plan | None
    until: float
    since: float
    """When that level was last used."""

    def __init__(
        self, *, replicas: int, plan: Plan | None, until: float, since: float = 0.0
    ) -> None:
        self.replicas = replicas
        self.plan = plan
        self.until = until
        self.since = since


@dataclass(slots=True)
class KeepAlive:
    """A pool's levels, fed every recommendation its history records, asked what to hold.
    Levels are made as the pool first reaches them: most pools only ever use a few."""

    edges: tuple[int, ...]
    """bands(max_replicas): where each level starts."""
    cold_start: float
    lag_per_replica: float = 1.0
    """target_lag_per_replica: the tasks a replica asked for stands for (`share`)."""
    concurrency: int = 1
    wait_weight: float = 1.0
    """keep_alive.wait_weight: a second of a task's waiting, in seconds of an idle pod."""
    taken: float | None = None
    """The tasks a pod would take while another starts, as measured when a level was last
    taken up (None: never measured): what a released pod makes wait (`share`)."""
    levels: list[Level] = field(default_factory=list)
    value: int = 0
    """The newest recommendation recorded."""
    latest: float | None = None
    """When it was recorded: the levels in use were last used then."""
    started: float | None = None
    """When the first recommendation was recorded."""
    reached: int = 0
    """The highest recommendation ever recorded."""
    changes: int = 0
    """Bumped when a level's use starts or ends (what the handover saves)."""
    wakes: Wakes = field(default_factory=lambda: Wakes())
    """The heads of the bursts the pool woke from zero for (`first_miss`)."""
    tail: Tail = field(default_factory=lambda: Tail())
    """The tasks its wakes made wait, per gap of the first level (`_planned`)."""
    _plans: list[Plan] | None = None
    """Each level's plan as `hold` applies it (see `plans`), until a level learns a gap or
    a level is added: `hold` runs at every claim, the plans change far less often."""
    _awake: list[int] | None = None
    """The levels `hold` may still take, by index (None: all): a level out of use whose hold
    has ended holds nothing again until it is used or its plan changes, and most of a pool's
    levels are such at most claims."""
    _awake_at: float = -math.inf
    """When `_awake` was last pruned: a question about an earlier time asks every level."""

    @classmethod
    def for_pool(cls, pool: PoolConfig) -> KeepAlive:
        return cls(
            edges=bands(pool.max_replicas),
            cold_start=pool.cold_start_seconds,
            lag_per_replica=pool.target_lag_per_replica,
            concurrency=pool.concurrency,
            wait_weight=pool.keep_alive.wait_weight,
        )

    def band(self, k: int) -> Level:
        """A new level for the k-th band: from edges[k] up to the next band's start."""
        edges = self.edges
        top = edges[k + 1] - 1 if k + 1 < len(edges) else edges[k]
        return Level(replicas=edges[k], top=top)

    def clock_back(self, now: float) -> None:
        """The clock stepped back to `now`: times after it are read as `now`."""
        if self.latest is not None and self.latest > now:
            self.latest = now
        if self.started is not None and self.started > now:
            self.started = now
        for level in self.levels:
            if level.last_used is not None and level.last_used > now:
                level.last_used = now
        if self.wakes.waking is not None and self.wakes.waking > now:
            self.wakes.waking = now
        self.tail.clock_back(now)
        self._awake, self._awake_at = None, -math.inf

    def unseen(self, now: float, held: int) -> None:
        """A tick the pool could not be read at, holding `held` replicas: the levels those
        cover count as used until now (an outage is no idle time), and nothing is learned."""
        if self.latest is None or now < self.latest:
            return
        self.latest = now  # the levels in use are used on
        for level in self.levels:
            if level.replicas <= held and not level.in_use and level.last_used is not None:
                level.last_used = now
        self._awake = None

    def record(self, now: float, value: int, pace: Pace | None = None) -> bool:
        """A recommendation recorded at `now`, with the pool's pace as read then (None: not
        known); whether what the levels hold above it may have changed: a level learned a
        gap or what a pod takes in a cold start, or, at zero, the first level learned a
        head (see `hold`). A recommendation recorded again as of an earlier step, with the
        reading of now, comes without its `pace`: the arrivals until then are counted at the
        rate read before."""
        if pace is None:
            self.tail.see(now, None, None)
        else:
            self.tail.see(now, pace.rate, pace.lag)
        woken = self.wakes.ended(now, self.cold_start)
        if woken:  # the first level's plan prices a miss by the heads
            self.changes += 1
            if self.levels:
                self.levels[0].plan = None
            self._plans = self._awake = None
        woken = woken and value == 0  # (from 1 up, the first level is in use: nothing held)
        if value == self.value and self.latest is not None:
            self.latest = now  # the usual tick: the levels in use are used on
            return woken
        if self.latest is not None:
            self.wakes.see(now, self.value, value)
        learned = woken
        if self.started is None:
            self.started = now
        if value > self.reached:
            self.reached = value
        self._awake = None  # a level's use starts or ends below
        levels, edges = self.levels, self.edges
        while len(levels) < len(edges) and edges[len(levels)] <= value:
            k = len(levels)
            levels.append(self.band(k))
            self._plans = self._awake = None
        for level in levels:
            if value >= level.replicas:
                if not level.in_use:
                    gap = level.start(now, self.cold_start)
                    if gap and level.replicas == 1:
                        self.tail.cycle(level.gaps[-1], now, self.cold_start)
                    learned = gap or learned
                    learned = self._learn_pace(pace, value) or learned
                    self.changes += 1
                within = value if value < level.top else level.top
                if within > level.peak:
                    level.peak = within
            elif level.in_use:
                level.in_use = False
                level.last_used = self.latest if self.latest is not None else now
                self.changes += 1
        self.value, self.latest = value, now
        if learned:
            self._plans = self._awake = None
        return learned

    def _learn_pace(self, pace: Pace | None, value: int) -> bool:
        """Take what a pod would take in a cold start, as `value` replicas are asked for: at
        most what it finishes (concurrency x cold start / task time), and at most its part
        of the arrivals meanwhile (arrival rate x cold start / value). Whether the levels'
        price of a miss moved by more than SHARE_MOVES (their plans are then made again)."""
        if pace is None or pace.task_s is None or not 0 < pace.task_s <= MAX_GAP_S:
            return False
        taken = self.concurrency * self.cold_start / pace.task_s
        if pace.rate is not None and 0 <= pace.rate <= MAX_RATE:
            arriving = pace.rate * self.cold_start / max(value, 1)
            taken = arriving if arriving < taken else taken
        before = self.share()
        if abs(self._share(taken) - before) <= SHARE_MOVES * before:
            return False
        self.taken = taken
        self._forget_plans()
        return True

    def _forget_plans(self) -> None:
        """The price moved: the levels in use are priced again. A level out of use keeps the
        plan it was released on until its next use: the price is measured as each level is
        taken up, and one measurement swings with the level and the rate of the moment (1 to
        26 tasks a pod within one burst of 2 s tasks); made again at each swing, an idle
        level's plan would flip between a 20 s hold and a 400 s hold with a pre-warm, and its
        pods would be asked for and let go again before they were up."""
        for level in self.levels:
            if level.in_use:
                level.plan = level.share = None
        self._plans = self._awake = None

    def share(self) -> float:
        """The tasks a released pod makes wait a whole cold start, as priced: a pod's share
        of the lag (target_lag_per_replica), or, where a pod would take more while another
        starts (`taken`), those, each waiting half of it on average."""
        return self._share(self.taken)

    def _share(self, taken: float | None) -> float:
        if taken is None:
            return self.lag_per_replica
        return max(self.lag_per_replica, taken / 2)

    def level_miss(self, share: float | None = None) -> float:
        """What a miss of a level above the first costs, in seconds of one idle pod: its
        pod's cold start paid again, and the tasks it would have taken (`share`, the pool's
        if None) waiting it, each second weighed by `wait_weight`."""
        share = self.share() if share is None else share
        return self.cold_start * (1 + self.wait_weight * share)

    def first_miss(self, share: float | None = None) -> float:
        """What a miss of the first level costs, in seconds of one idle pod. Released to
        zero, the pool makes the next burst's head wait whole, not one pod's share: its
        tasks (the replicas asked for, a `share` each) wait half a cold start on average,
        and the first pod starts again (each second of waiting weighed by `wait_weight`).
        Without a wake seen, a miss of any level."""
        share = self.share() if share is None else share
        head = self.wakes.mean()
        if head is None:
            return self.level_miss(share)
        return self.cold_start * (1 + self.wait_weight * share * head / 2)

    def plans(self) -> list[Plan]:
        """Each level's plan, as `hold` applies it: a level with no pattern of its own yet is
        held no longer than the learned level below it (a level's gaps are at least as long
        as the level below's). A level out of use is priced as when it was released."""
        if self._plans is None:
            made: list[Plan] = []
            prior: Plan | None = None
            now = self.share()
            for level in self.levels:
                if level.plan is None and (level.in_use or level.share is None):
                    level.share = now
                planned = self._planned(level, now if level.share is None else level.share)
                if planned.learned:
                    prior = planned
                elif prior is not None and prior.hold_s < planned.hold_s:
                    planned = planned.held_for(max(prior.hold_s, self.cold_start))
                made.append(planned)
            self._plans = made
        return self._plans

    def _planned(self, level: Level, share: float) -> Plan:
        """The level's plan, priced at `share` where it is made anew (a level whose plan
        stands, as most do at a rebuild of `plans`, is not priced again)."""
        made = level.plan
        if made is None:
            taken = 2 * share if share > self.lag_per_replica else None
            weight = self.wait_weight
            if level.replicas == 1:
                head, miss = self.wakes.mean(), self.first_miss(share)
            else:
                head, miss = None, self.level_miss(share)
            made = level.planned(self.cold_start, miss, head=head, taken=taken, weight=weight)
        if level.replicas == 1:
            longer = self.tail.hold(made.hold_s) if made.prewarm_s is None else None
            return made if longer is None else made.held_for(longer[0], tail=longer[1])
        return made

    def hold(self, now: float, current: int = 0, wanted: int = 0) -> Hold:
        """The most replicas a level's plan holds (or pre-warms) now, given the replicas
        `wanted` now, and until when this stands by itself (a release, a pre-warm or its end).
        The levels `wanted` covers are in use and hold nothing. Replicas the pool had before
        anything was recorded (`current` above every level reached) are held as a level
        with no pattern, from when recording began: a new process knows nothing of them."""
        best: Level | None = None
        chosen: Plan | None = None
        since = now
        until = math.inf
        levels, plans = self.levels, self.plans()
        awake = self._awake
        if awake is None or now < self._awake_at:
            awake = list(range(len(levels)))
        still: list[int] = []
        for k in awake:
            level, planned = levels[k], plans[k]
            if level.replicas <= wanted:
                still.append(k)
                continue  # in use now: nothing to hold, and no time to hold it until
            # A level in use as last recorded ends now (the claim comes before its record):
            # it was last needed then.
            used = self.latest if level.in_use else level.last_used
            if used is None:
                still.append(k)
                continue
            end = used + planned.hold_s
            if now >= end and not level.in_use:
                continue  # its hold (and any pre-warm) is over until it is used again
            still.append(k)
            if planned.prewarm_s is None:
                warm = now < end
                edges: tuple[float, ...] = (end,)
            else:
                released, back = used + self.cold_start, used + planned.prewarm_s
                warm = now < released or back <= now < end
                edges = (released, back, end)
            for edge in edges:
                if now < edge < until:
                    until = edge
            if warm and (best is None or level.peak > best.peak):
                best, chosen = level, planned
                since = used
        self._awake, self._awake_at = still, now
        if self.wakes.waking is not None and wanted == 0:  # the first level's plan changes
            woken = self.wakes.waking + self.cold_start
            until = woken if now < woken < until else until
        if current > self.reached and (best is None or current > best.peak):
            began = self.started if self.started is not None else now
            unknown = plan([], self.cold_start, self.level_miss(), weight=self.wait_weight)
            end = began + unknown.hold_s
            if now < end:
                until = end if end < until else until
                return Hold(replicas=current, plan=unknown, until=until, since=began)
        if best is None:
            return Hold(replicas=0, plan=None, until=until)
        return Hold(replicas=best.peak, plan=chosen, until=until, since=since)

    def released(self, current: int, target: int) -> Hold | None:
        """The highest level a scale-down from `current` to `target` lets go, held no longer
        by its plan: what the release's reason quotes (None: no such level was used)."""
        levels, plans = self.levels, self.plans()
        for k in range(len(levels) - 1, -1, -1):
            level = levels[k]
            if not target < level.replicas <= current:
                continue
            used = self.latest if level.in_use else level.last_used
            if used is None:
                return None
            planned = plans[k]
            return Hold(
                replicas=level.replicas, plan=planned, until=used + planned.hold_s, since=used
            )
        return None

    def merge(self, other: KeepAlive) -> None:
        """Take in another process's levels (controller.core.keepalive_merge): each band's
        later use, and the longer memory of its gaps."""
        take_in(self, other)
        self.changes += 1
        self._plans = self._awake = None
