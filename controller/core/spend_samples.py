"""Each budgeted tenant's spend, sampled at every step of the engine, at the cost of the
tenants that moved.

The budget's forecast (controller.core.spend) is learned from a sample of each budgeted tenant
at every step: its tokens today, the tasks its workers reported done and the tasks waiting. At
most steps only a few tenants move. A tenant told nothing new since its last counted sample
would give that sample again, which asks for nothing; so its samples are owed, and counted in
one go (TenantSpend.repeat) when it next moves or its spend is read. That is exact while the
owed samples share the counted one's budget day, no two steps are further apart than GAP_S
(a gap teaches nothing), and no pace reads the forecast in between: a step that breaks the
first two counts every tenant, and so does a step where the pace reads them (once a minute,
controller.core.spend_read.PACE_READ_S).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection

from controller.core.config import Config
from controller.core.record import Record
from controller.core.spend import GAP_S, SpendBook


class Sample(Record):
    """What a tenant's spend is told at a step."""

    FIELDS = ("used", "tasks", "lag", "learn")
    __slots__ = FIELDS

    used: int
    tasks: int | None
    lag: int
    learn: bool
    """False while the tokens are only the last known (stale)."""

    def __init__(self, *, used: int, tasks: int | None, lag: int, learn: bool) -> None:
        self.used = used
        self.tasks = tasks
        self.lag = lag
        self.learn = learn

    def __eq__(self, other: object) -> bool:
        """Field by field (Record's, by name, is slower; a sample is compared with the last
        at every step that reads it)."""
        if not isinstance(other, Sample):
            return NotImplemented
        return (
            self.used == other.used
            and self.lag == other.lag
            and self.tasks == other.tasks
            and self.learn == other.learn
        )


class SpendSamples:
    """The engine's samples of every budgeted tenant's spend (see the module's docstring)."""

    def __init__(self, config: Config) -> None:
        self.book = SpendBook(config)
        self._last: dict[str, Sample] = {}
        """Per tenant with tokens known, its last counted sample."""
        self._counted: dict[str, int] = {}
        """Per tenant, the step of its last counted sample: the steps since then are owed."""
        self.moved: set[str] = set(self.book.tenants)
        """Budgeted tenants told something since their last sample."""
        self.day_ends = math.inf
        """The earliest end of a budget day among the tenants sampled."""

    def sample(
        self,
        step: int,
        now: float,
        previous: float,
        read: Callable[[str], Sample | None],
        counted: Collection[str],
    ) -> None:
        """The `step`-th step's samples, at `now` (the one before was at `previous`): `read`
        says what a tenant is told now (None: no tokens known). The `counted` tenants are
        counted now whether or not they moved (their spend is read at this step)."""
        tenants = self.book.tenants
        steady = now - previous <= GAP_S
        if steady and now < self.day_ends:
            names = [name for name in self.moved.union(counted) if name in tenants]
        else:  # a gap or a new day: every tenant is counted
            names = list(tenants)
            self.day_ends = math.inf
        for name in names:
            spend = tenants[name]
            sample, last = read(name), self._last.get(name)
            end = spend.day.end
            if sample is None or sample != last or name in counted or not steady or now >= end:
                if last is not None and step - 1 > self._counted[name]:
                    spend.repeat(previous, step - 1 - self._counted[name], learn=last.learn)
                self._counted[name] = step
                if sample is None:
                    self._last.pop(name, None)
                    continue
                spend.observe(sample.used, now, sample.tasks, sample.lag, learn=sample.learn)
                self._last[name] = sample
                end = spend.day.end
            self.day_ends = end if end < self.day_ends else self.day_ends
        self.moved.clear()

    def clock_back(self, step: int, previous: float, now: float) -> None:
        """The clock stepped back to `now` before the `step`-th step (the one before was at
        `previous`): the samples owed are counted as of then, and every tenant is sampled
        again from `now` (TenantSpend.clock_back)."""
        self.settle(step - 1, previous)
        for spend in self.book.tenants.values():
            spend.clock_back(now)
        self.moved.update(self.book.tenants)

    def settle(self, step: int, previous: float) -> SpendBook:
        """The book with every sample owed counted, up to the `step`-th step (at `previous`)."""
        for name, last in self._last.items():
            owed = step - self._counted[name]
            if owed > 0:
                self.book.tenants[name].repeat(previous, owed, learn=last.learn)
                self._counted[name] = step
        return self.book
