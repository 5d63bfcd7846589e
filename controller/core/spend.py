"""What a tenant's tokens will come to by its budget's reset, learned from its own demand.

The budget pace (controller.core.budget) asks each budgeted tenant's `TenantSpend` for a
`Forecast`: how many more tokens the tenant would ask for, unpaced, before its budget resets.
The engine samples each budgeted tenant at every step: its tokens today, the tasks its workers
reported done today, and the tasks waiting in its queues (lag). What the tenant asks for is
what it spent plus what waits (its lag at its tokens a task, learned from the reports): a pace
that holds tasks back does not make its own demand look smaller, and a backlog drained after
the arrivals stop is not taken for more to come. Where the tasks done are unknown (token usage
from Prometheus), the spend alone stands in. Two sources, each learned online:

- **A profile by hour of day.** The day is cut into hours from the reset (bin 0 is the first
  hour after it; a day is 23-25 h where clocks change). At each reset, every hour seen for at
  least half of it folds its tokens a second into its bin, the newest day weighing NEWEST_DAY
  (older days fade: a week ago counts under a tenth). The rest of today is read from the
  bins, scaled by how today compares with them so far (shrunk towards 1 by one average hour of
  the profile, so that the first minutes of a day do not swing it): controller.core.spend_profile.
- **The recent burn rate**, for the hours the profile does not know yet (a new tenant, the
  first day): a line through the last two hours' tokens a second, in minute buckets, followed
  where it falls and never projected to rise (controller.core.burn). Ten minutes must be seen
  before it is read, and it is read only as far ahead as it was seen: the hours beyond are
  left out of the forecast until the clock reaches them. A first day's traffic may stop at
  any hour, and a line carried to the reset would pace tenants whose day fits.

Pure: no I/O, no clock. The engine keeps one per budgeted tenant (`SpendBook`) and shows them
to the policy in Observations.spend; the leader saves them with the windows' history
(controller.coordination.spend_handover), so a successor forecasts as it would have.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from controller.core.accounting import BudgetClock, BudgetDay
from controller.core.burn import BUCKET_S, BUCKETS, Burn, fit
from controller.core.config import Config, TenantConfig
from controller.core.spend_profile import (
    DAY_BINS,
    MAX_DAYS,
    bin_of,
    fold,
    hours,
    today_scale,
)
from controller.core.spend_read import Forecast, SpendRead

NO_DAY = BudgetDay(math.nan, math.nan)
"""Before the first sample."""
GAP_S: Final = 3600.0
"""Samples further apart than this teach nothing (the tokens between are not spread over it)."""
MIN_TASKS: Final = 10
"""Tasks reported done before their tokens a task are read."""


@dataclass(slots=True)
class TenantSpend:
    """One tenant's spend: the hour-of-day profile, today's hours, the recent minutes."""

    clock: BudgetClock
    bins: list[float | None] = field(default_factory=lambda: [None] * DAY_BINS)
    """Tokens a second in each hour from the reset, over past days."""
    days: list[int] = field(default_factory=lambda: [0] * DAY_BINS)
    today_tokens: list[float] = field(default_factory=lambda: [0.0] * DAY_BINS)
    today_seconds: list[float] = field(default_factory=lambda: [0.0] * DAY_BINS)
    """Seconds of each hour today seen between two samples (no longer than GAP_S apart)."""
    day: BudgetDay = NO_DAY
    used: int | None = None
    tasks: int | None = None
    queued: float = 0.0
    at: float | None = None
    """The last sample: tokens and tasks done today, the tokens waiting, and when."""
    task_tokens: float = 0.0
    task_count: float = 0.0
    """Tokens and tasks reported since this learner started, halved at each reset (recent
    days weigh more): their ratio is the tenant's tokens a task."""
    tokens: deque[float] = field(default_factory=deque)
    seconds: deque[float] = field(default_factory=deque)
    """Per minute bucket, oldest first, the last one filling: tokens, and seconds seen."""
    bucket_start: float = math.nan
    """When the filling bucket started."""
    quiet: tuple[float, float] | None = None
    """A run of samples that asked for nothing (tokens, tasks and lag as before) not yet
    counted: from, to. Such a sample only adds its seconds, and the engine samples every
    tenant at every step, so the run is counted in one go (`settle`) when something is asked
    for or read: the same hours and buckets, for one count instead of one a step."""
    changes: int = 0
    """Bumped when a day folds into the profile (the handover writes the profile then)."""
    _burn: tuple[float, Burn | None] = field(default=(math.nan, None), compare=False)
    _forecast: tuple[float, int, Forecast | None] = field(
        default=(math.nan, -1, None), compare=False
    )
    """The last burn rate and forecast (caches: (now, `samples` then, it))."""
    samples: int = 0
    """Bumped by every sample and merge."""

    @classmethod
    def for_tenant(cls, tenant: TenantConfig) -> TenantSpend:
        return cls(tenant.clock)

    # --- learning ---------------------------------------------------------------------------

    def observe(
        self, used: int, now: float, tasks: int | None = None, lag: int = 0, *, learn: bool = True
    ) -> None:
        """Tokens and tasks done today and the tasks waiting, at `now`. With `learn` false (a
        stale count), only the baseline moves."""
        at = self.at
        if at is not None and now <= at:
            return  # the same instant: what moved is counted at the next sample
        self.samples += 1
        day = self.clock.day(now)
        new_day = day != self.day
        if new_day:
            self.settle()
            self._fold(day)
        before, done = self.used, self.tasks
        # The count went on from the last sample, or started over (a reset: from zero).
        going = before is not None and not new_day and used >= before
        if going and tasks is not None and done is not None and tasks > done:
            self.task_tokens += used - (before or 0)
            self.task_count += tasks - done
        each = self.per_task()
        queued = lag * each if each is not None else 0.0
        asked = used - (before if going and before is not None else 0) + queued - self.queued
        self.used, self.tasks, self.queued, self.at = used, tasks, queued, now
        if before is None or at is None or not learn or now - at > GAP_S:
            self.settle()
            return
        if asked == 0.0:
            self.quiet = (at if self.quiet is None else self.quiet[0], now)
            return
        self.settle()
        self._count(at, now, asked)

    def repeat(self, now: float, samples: int, *, learn: bool = True) -> None:
        """`samples` more samples, the last at `now`, each the same as the last one (tokens,
        tasks done and lag), all within its budget day and no further than GAP_S apart: what
        as many calls of `observe` would do, in one (steps the backtest skipped)."""
        at = self.at
        if at is None or now <= at or samples <= 0:
            return
        self.samples += samples
        self.at = now
        if learn:  # each asked for nothing: the quiet run goes on to `now`
            self.quiet = (at if self.quiet is None else self.quiet[0], now)
        else:
            self.settle()

    def clock_back(self, now: float) -> None:
        """The clock stepped back to `now`: the next sample counts from `now`, and the minute
        buckets move back with it, so the burn rate reads its last two hours as if the clock
        had not stepped. Otherwise every sample until the clock reached the last one's time
        again would be dropped as "not after the last", and the forecast would stand still
        for as long as the step. Stepped back across the budget reset, it is left so: taken as
        a new day, the day would fold into the profile twice."""
        at = self.at
        if at is None or now >= at or now < self.day.start:
            return
        self.settle()
        self.bucket_start -= at - now  # (nan, without buckets, stays nan)
        self._burn = (math.nan, None)
        self.at = now

    def settle(self) -> None:
        """Count the quiet run of samples not counted yet (see `quiet`)."""
        if self.quiet is not None:
            start, end = self.quiet
            self.quiet = None
            self._count(start, end, 0.0)

    def per_task(self) -> float | None:
        """The tenant's tokens a task, from its reports (None: under MIN_TASKS seen)."""
        if self.task_count < MIN_TASKS:
            return None
        return self.task_tokens / self.task_count

    def _count(self, start: float, end: float, spent: float) -> None:
        """Spread `spent` (tokens asked for; less than zero where the queue's tokens fell)
        over [start, end): today's hours (what fell before the reset was yesterday's), and the
        minute buckets."""
        span = end - start
        for k, low, high in hours(self.day.start, max(start, self.day.start), end):
            self.today_tokens[k] += spent * (high - low) / span
            self.today_seconds[k] += high - low
        tokens, seconds = self.tokens, self.seconds
        if not tokens or end - self.bucket_start > (BUCKETS + 1) * BUCKET_S:
            tokens.clear()
            seconds.clear()
            self.bucket_start = math.floor(start / BUCKET_S) * BUCKET_S
            tokens.append(0.0)
            seconds.append(0.0)
        while end > self.bucket_start + BUCKET_S:
            self.bucket_start += BUCKET_S
            tokens.append(0.0)
            seconds.append(0.0)
            if len(tokens) > BUCKETS + 1:
                tokens.popleft()
                seconds.popleft()
        edge = self.bucket_start
        for i in range(len(tokens) - 1, -1, -1):
            low, high = max(start, edge), min(end, edge + BUCKET_S)
            if high > low:
                tokens[i] += spent * (high - low) / span
                seconds[i] += high - low
            if start >= edge:
                break
            edge -= BUCKET_S

    def _fold(self, day: BudgetDay) -> None:
        """A new budget day: yesterday's hours fold into the profile."""
        fold(self.bins, self.days, self.today_tokens, self.today_seconds)
        self.changes += 1
        self.today_tokens = [0.0] * DAY_BINS
        self.today_seconds = [0.0] * DAY_BINS
        self.task_tokens /= 2
        self.task_count /= 2
        self.day = day

    # --- reading ----------------------------------------------------------------------------

    def burn(self) -> Burn | None:
        """The recent burn rate (None: under MIN_BUCKETS minutes seen)."""
        self.settle()
        key, made = self._burn
        if key == self.bucket_start:
            return made
        made = fit(self.tokens, self.seconds, self.bucket_start)
        self._burn = (self.bucket_start, made)
        return made

    def read(self, now: float) -> SpendRead:
        """What the pace reads of this spend at `now`: its forecast (worked out when first
        asked for, from a copy of the spend as it stands now) and tokens a task."""
        self.settle()
        return SpendRead(self.snapshot(), per_task=self.per_task(), at=now)

    def snapshot(self) -> TenantSpend:
        """A copy that later samples do not move."""
        return TenantSpend(
            clock=self.clock,
            bins=list(self.bins),
            days=list(self.days),
            today_tokens=list(self.today_tokens),
            today_seconds=list(self.today_seconds),
            day=self.day,
            used=self.used,
            tasks=self.tasks,
            queued=self.queued,
            at=self.at,
            task_tokens=self.task_tokens,
            task_count=self.task_count,
            tokens=deque(self.tokens),
            seconds=deque(self.seconds),
            bucket_start=self.bucket_start,
            changes=self.changes,
            _burn=self._burn,
            _forecast=self._forecast,
            samples=self.samples,
        )

    def forecast(self, now: float) -> Forecast | None:
        """More tokens by the reset after `now`; None where neither the profile nor the burn
        rate knows the hours left."""
        when, seen, made = self._forecast
        if when == now and seen == self.samples:
            return made
        self.settle()
        made = self._project(now)
        self._forecast = (now, self.samples, made)
        return made

    def _project(self, now: float) -> Forecast | None:
        day = self.clock.day(now)
        scale = 1.0
        if day == self.day:
            through = bin_of(self.day.start, now)
            scale = today_scale(self.bins, self.today_tokens, self.today_seconds, through)
        burn: Burn | None = None
        tokens, days, rate = 0.0, MAX_DAYS, -1.0
        unknown: list[tuple[float, float]] = []
        """The runs of hours the profile does not know (the burn rate is read over each)."""
        for k, low, high in hours(day.start, now, day.end):
            learned = self.bins[k]
            if learned is not None:
                tokens += scale * learned * (high - low)
                days = min(days, self.days[k])
                rate = scale * learned if rate < 0 else rate
            elif unknown and unknown[-1][1] == low:
                unknown[-1] = (unknown[-1][0], high)
            else:
                unknown.append((low, high))
        short = False
        if unknown:
            burn = self.burn()
            if burn is None:
                return None
            reach = now + burn.seen
            short = unknown[-1][1] > reach
            tokens += sum(
                burn.expected(low, min(high, reach)) for low, high in unknown if low < reach
            )
            rate = burn.at(now) if unknown[0][0] == now else rate
        days = days if days < MAX_DAYS else 0
        return Forecast(
            tokens=max(tokens, 0.0),
            rate=max(rate, 0.0),
            days=days,
            scale=scale if days else 1.0,
            burn=burn,
            short=short,
        )

    # --- a successor's view -----------------------------------------------------------------

    def merge(self, other: TenantSpend) -> None:
        """Take in what another process learned (controller.coordination.spend_handover): each
        hour's bin from whichever saw more days, today's hours and the recent minutes from
        whichever saw more of them. Its baseline (`used`, `at`) stays this process's own."""
        self.settle()
        other.settle()
        for k in range(DAY_BINS):
            if other.days[k] > self.days[k]:
                self.bins[k], self.days[k] = other.bins[k], other.days[k]
        if other.day == self.day and sum(other.today_seconds) > sum(self.today_seconds):
            self.today_tokens = list(other.today_tokens)
            self.today_seconds = list(other.today_seconds)
        if other.task_count > self.task_count:
            self.task_tokens, self.task_count = other.task_tokens, other.task_count
        if sum(other.seconds) > sum(self.seconds):
            self.tokens, self.seconds = deque(other.tokens), deque(other.seconds)
            self.bucket_start = other.bucket_start
            self._burn = (math.nan, None)
        if self.day != other.day and math.isnan(self.day.start):
            self.day = other.day
            self.today_tokens = list(other.today_tokens)
            self.today_seconds = list(other.today_seconds)
        self.changes += 1
        self.samples += 1


class SpendBook:
    """Every budgeted tenant's TenantSpend, fed the tenant's tokens today at each step."""

    def __init__(self, config: Config) -> None:
        self.tenants: dict[str, TenantSpend] = {
            name: TenantSpend.for_tenant(tenant)
            for name, tenant in config.tenants.items()
            if tenant.daily_token_budget is not None
        }

    def observe(
        self,
        tenant: str,
        used: int,
        now: float,
        tasks: int | None = None,
        lag: int = 0,
        *,
        learn: bool = True,
    ) -> None:
        spend = self.tenants.get(tenant)
        if spend is not None:
            spend.observe(used, now, tasks, lag, learn=learn)
