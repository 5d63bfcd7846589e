"""What the time rules remember: recent recommendations, recent scale steps, last busy time.

The policy only reads a `History`; whoever runs the policy (the live loop, the simulator, a
test) records into it after each tick, so the policy itself stays a pure function.

The stabilization windows ask for the lowest recommendation in the last `up` seconds and the
highest in the last `down` seconds, every tick, for every pool. Two monotonic deques answer
both in O(1) amortised instead of scanning every tick in the window.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from controller.core.config import Config, PoolConfig
from controller.core.keepalive import KeepAlive
from controller.core.keepalive_levels import Pace
from controller.core.model import Observations, ScaleDecision

SUSTAINED_S: Final = 15.0
"""How long demand must last before it may take the replicas that time rules keep in other
pools under a short shared ceiling (controller.core.allocation): a blip of lag moves no pod."""


SETTLE_S: Final = 300.0
"""How long a learned pool's recommendation must stay below its replicas, within the
scale-down tolerance, before the pool settles to the highest of it (controller.core.time_rules):
the HPA's default scale-down stabilization window. The tolerance stops a pool from chasing its
noise; a recommendation under the replicas for a whole window is a decline, not noise."""


def peer_sustained(pool: PoolConfig) -> float:
    """How long demand must last before it may take the replicas that time rules keep in pools
    of its own tier: SUSTAINED_S and the pool's cold start. A pod moved between two pools of
    one weight serves nothing for a cold start, and gains the tier nothing unless the demand
    it goes to outlasts that; demand that has already lasted a cold start more is as likely
    as not to (two pools of a tier whose lags wobble under a cap otherwise trade pods back and
    forth, each trade a cold start)."""
    return SUSTAINED_S + pool.cold_start_seconds


@dataclass(slots=True)
class PoolHistory:
    up_window: float = 3600.0
    down_window: float = 3600.0
    keep_steps: float = 3600.0
    lows: deque[tuple[float, int]] = field(default_factory=deque)
    """(time, recommendation), values strictly rising: the front is the window's minimum."""
    highs: deque[tuple[float, int]] = field(default_factory=deque)
    """(time, recommendation), values strictly falling: the front is the window's maximum."""
    steps: deque[tuple[float, int]] = field(default_factory=deque)
    """(time, replicas added (+) or removed (-)) per actuated change, newest last."""
    busy_at: float | None = None
    """Last time the pool had lag; before any, when we started watching it."""
    changes: int = 0
    """Bumped when the windows or the steps gain an entry, not when the newest entry only
    moves on (the usual tick): controller.coordination.handover writes a pool again only after a
    change."""
    keep: KeepAlive | None = None
    """The keep-alive learned from this pool's gaps (None: a history without its config)."""

    def recommend(self, now: float, value: int, pace: Pace | None = None) -> bool:
        """Record a recommendation, with the pool's pace as read (None: not known);
        whether the keep-alive learned from it (a claim made before it may then hold
        differently: the engine claims the pool again)."""
        learned = False
        if self.keep is not None:
            kept = self.keep.changes
            learned = self.keep.record(now, value, pace)
            if self.keep.changes != kept:  # (a wake's head is learned on any tick: save it)
                self.changes += 1
        lows, highs = self.lows, self.highs
        if lows and highs and lows[-1][1] == value == highs[-1][1]:
            # The same as last time (the usual case): the newest entries only move on.
            lows[-1] = highs[-1] = (now, value)
        else:
            self.changes += 1
            while lows and lows[-1][1] >= value:
                lows.pop()
            lows.append((now, value))
            while highs and highs[-1][1] <= value:
                highs.pop()
            highs.append((now, value))
        edge = now - self.up_window
        while lows and lows[0][0] <= edge:
            lows.popleft()
        edge = now - self.down_window
        while highs and highs[0][0] <= edge:
            highs.popleft()
        return learned

    def record(self, now: float, recommendation: int, busy: bool, pace: Pace | None = None) -> None:
        """A tick's recommendation, whether the pool had lag then, and its pace."""
        self.recommend(now, recommendation, pace)
        if busy:
            self.busy_at = now

    def unseen(self, now: float, held: int) -> None:
        """A tick without a reading of the pool (stale): it counts as busy at the replicas
        it held, for the cooldown and the scale-down window, and not as idle time. Else a
        pool seen idle before an outage longer than its cooldown went down at the first
        reading after it, as its producers' retries arrived (1 -> 0, then 0 -> 1 in the
        same second). The lows, which the scale-up window reads, are left alone: a backlog
        found after an outage scales up at once. The learned keep-alive counts it alike."""
        self.busy_at = now
        if self.keep is not None:
            self.keep.unseen(now, held)
        highs = self.highs
        if highs and highs[-1][1] == held:
            highs[-1] = (now, held)
            return
        self.changes += 1
        while highs and highs[-1][1] <= held:
            highs.pop()
        highs.append((now, held))

    def lowest_since(self, since: float) -> tuple[float, int] | None:
        """The lowest recommendation after `since`, as its entry: (the last time it was
        recommended, the value)."""
        for entry in self.lows:
            if entry[0] > since:
                return entry
        return None

    def highest_since(self, since: float) -> tuple[float, int] | None:
        for entry in self.highs:
            if entry[0] > since:
                return entry
        return None

    def step(self, now: float, delta: int) -> None:
        self.changes += 1
        self.steps.append((now, delta))
        while self.steps and self.steps[0][0] <= now - self.keep_steps:
            self.steps.popleft()

    def moved_since(self, since: float) -> tuple[int, int, float]:
        """Replicas added and removed after `since`, and the time of the first such step
        (inf if none): what the rate policies count from."""
        added = removed = 0
        first = math.inf
        for t, delta in self.steps:
            if t > since:
                if delta > 0:
                    added += delta
                else:
                    removed -= delta
                if t < first:
                    first = t
        return added, removed, first

    def clock_back(self, now: float) -> None:
        """The clock stepped back to `now`: what was recorded after it is read as of `now`
        (held for a window from now at most, not for as long as the step)."""
        self.lows = deque((t if t < now else now, v) for t, v in self.lows)
        self.highs = deque((t if t < now else now, v) for t, v in self.highs)
        self.steps = deque((t if t < now else now, d) for t, d in self.steps)
        if self.busy_at is not None and self.busy_at > now:
            self.busy_at = now
        if self.keep is not None:
            self.keep.clock_back(now)

    def merge(self, other: PoolHistory, now: float) -> None:
        """Take in what another process remembered of this pool (controller.coordination.handover):
        the windows then answer as if they had seen both, a step known to both counts once, and
        the pool was last busy at the later time. Entries past their window are left out."""
        self.lows = _monotonic([*self.lows, *other.lows], now - self.up_window, True)
        self.highs = _monotonic([*self.highs, *other.highs], now - self.down_window, False)
        since = now - self.keep_steps
        self.steps = deque(sorted({s for s in (*self.steps, *other.steps) if s[0] > since}))
        busy_at = other.busy_at
        if busy_at is not None and (self.busy_at is None or busy_at > self.busy_at):
            self.busy_at = busy_at
        if self.keep is not None and other.keep is not None:
            self.keep.merge(other.keep)
        self.changes += 1


def _monotonic(
    entries: list[tuple[float, int]], since: float, rising: bool
) -> deque[tuple[float, int]]:
    """The deque `recommend` builds from these entries, taken in time order, less those at
    or before `since`. Rebuilt from two such deques, it is the deque of both sequences: an
    entry one of them dropped was beaten by a later one that it kept."""
    kept: deque[tuple[float, int]] = deque()
    for entry in sorted(entries):
        if entry[0] <= since:
            continue
        if rising:
            while kept and kept[-1][1] >= entry[1]:
                kept.pop()
        else:
            while kept and kept[-1][1] <= entry[1]:
                kept.pop()
        kept.append(entry)
    return kept


@dataclass(slots=True)
class History:
    config: Config | None = None
    """Gives each pool its window lengths; without it, everything is kept an hour."""
    pools: dict[str, PoolHistory] = field(default_factory=dict)

    def pool(self, name: str, now: float) -> PoolHistory:
        entry = self.pools.get(name)
        if entry is None:
            entry = self.pools[name] = PoolHistory(busy_at=now)
            pool = self.config.pools.get(name) if self.config is not None else None
            if pool is not None:
                up, down = pool.behavior.scale_up, pool.behavior.scale_down
                entry.up_window = max(up.stabilization_seconds, peer_sustained(pool))
                entry.down_window = down.stabilization_seconds
                if pool.learns_keep_alive:  # its highs answer how long it has stayed below
                    entry.down_window = max(entry.down_window, SETTLE_S)
                entry.keep_steps = max(up.longest_period, down.longest_period)
                entry.keep = KeepAlive.for_pool(pool)
        return entry

    def record_tick(
        self, decisions: Iterable[ScaleDecision], observations: Observations, now: float
    ) -> None:
        """Remember this tick's recommendations and which pools were busy (a stale one:
        `PoolHistory.unseen`)."""
        for decision in decisions:
            observed = observations.pools.get(decision.pool)
            if observed is not None and observed.stale is not None:
                self.pool(decision.pool, now).unseen(now, decision.recommendation)
            elif observed is not None:
                pace = Pace(
                    task_s=observed.mean_task_seconds,
                    rate=observed.arrival_rate,
                    lag=observed.lag,
                )
                self.record_pool(decision.pool, decision.recommendation, observed.lag, now, pace)

    def record_pool(
        self, pool: str, recommendation: int, lag: int, now: float, pace: Pace | None = None
    ) -> None:
        """`record_tick` for one pool (observed, not stale)."""
        self.pool(pool, now).record(now, recommendation, lag > 0, pace)

    def record_scale(self, pool: str, now: float, old: int, new: int) -> None:
        """Remember an actuated change, for the rate policies."""
        self.pool(pool, now).step(now, new - old)

    def clock_back(self, now: float) -> None:
        """`PoolHistory.clock_back` for every pool."""
        for entry in self.pools.values():
            entry.clock_back(now)

    def merge_pool(self, pool: str, other: PoolHistory, now: float) -> None:
        """`PoolHistory.merge` into a pool's history. A pool new here takes the other's
        `busy_at` as it is: the time we first saw it stands in only for knowing nothing."""
        fresh = pool not in self.pools
        entry = self.pool(pool, now)
        if fresh:
            entry.busy_at = None
        entry.merge(other, now)
