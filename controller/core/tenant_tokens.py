"""What the engine is told of each tenant's tokens: the tokens used today (and why they are
only the last known, where they are), the tasks its workers reported done today, the budget
rule those tokens put it under, and which tenants the budget pace holds.

Pure bookkeeping for controller.core.engine, which claims a tenant's pools again when `tell`
says its rule moved (or, past warn_at, at every step: `paced`).
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.core.budget import WARNING, budget_rule
from controller.core.budget_uncounted import uncounted_rule
from controller.core.config import Config
from controller.core.model import NOTHING_IN_FLIGHT, InFlight
from controller.core.record import Record


class Told(Record):
    """What a tenant's tokens, as told, changed."""

    FIELDS = ("new", "reclaim")
    __slots__ = FIELDS

    new: bool
    """Anything new was told: its spend samples it."""
    reclaim: bool
    """Its budget rule moved, or reads other figures: its pools are claimed again."""

    def __init__(self, *, new: bool, reclaim: bool) -> None:
        self.new = new
        self.reclaim = reclaim


NOTHING = Told(new=False, reclaim=False)


class TenantTokens:
    """Each tenant's tokens today as told, and its budget rule as of them."""

    def __init__(
        self,
        config: Config,
        *,
        exact_reasons: bool = False,
        in_flight: Mapping[str, InFlight] | None = None,
    ) -> None:
        self.config = config
        self.exact_reasons = exact_reasons
        """A new figure claims a budgeted tenant's pools again even where its rule stands:
        the reasons quote the latest figures (the live loop)."""
        self.used: dict[str, int] = {}
        """Tokens used today, where known."""
        self.stale: dict[str, str] = {}
        """Why a tenant's tokens are only the last known."""
        self.tasks_today: dict[str, int] = {}
        """The tasks its workers reported done today, where known."""
        self.task_tokens: dict[str, float] = {}
        """Its tokens a task: today's once a task is done today, else the last day's (at a
        reset, today's tokens and tasks start over from none)."""
        self.rules: dict[str, str | None] = {}
        """Per budgeted tenant: its budget rule as of its last tokens."""
        self.paced: set[str] = set()
        """Tenants past warn_at with the pace on: claimed again at every step."""
        self.in_flight: Mapping[str, InFlight] = {} if in_flight is None else in_flight
        """Per tenant, the most its pools may have in flight now, as the engine reads them
        (its own mapping, not a copy: controller.core.budget_price.in_flight)."""

    def tell(
        self, tenant: str, used: int | None, stale: str | None = None, tasks: int | None = None
    ) -> Told:
        """A tenant's tokens today (None: unknown), why they are only the last known, and the
        tasks its workers reported done today (None: unknown); what that changed."""
        new = tasks != self.tasks_today.get(tenant)
        if tasks is None:
            self.tasks_today.pop(tenant, None)
        else:
            self.tasks_today[tenant] = tasks
        if used is None:
            return self._uncounted(tenant, stale, new)
        was_stale = self.stale.get(tenant)
        if self.used.get(tenant) == used and was_stale == stale and not new:
            return Told(new=False, reclaim=False)  # (new tasks alone move its tokens a task)
        self.used[tenant] = used
        if tasks:
            self.task_tokens[tenant] = used / tasks
        if stale is None:
            self.stale.pop(tenant, None)
        else:
            self.stale[tenant] = stale
        config = self.config.tenants[tenant]
        if config.daily_token_budget is None:
            return Told(new=True, reclaim=False)
        rule = self._budget_rule(tenant, used)
        moved = self.rules.get(tenant, "") != rule
        if moved or (rule is not None and (self.exact_reasons or was_stale != stale)):
            self._rule(tenant, rule)
            return Told(new=True, reclaim=True)
        return Told(new=True, reclaim=False)

    def _uncounted(self, tenant: str, stale: str | None, new: bool) -> Told:
        """No count of the tenant's tokens; `stale`: why, where its source fails."""
        had = self.used.pop(tenant, None)
        was_stale = self.stale.pop(tenant, None)
        if stale is not None:
            self.stale[tenant] = stale
        rule = uncounted_rule(self.config.tenants[tenant], stale)
        if had is None and rule == self.rules.get(tenant) and was_stale == stale:
            return Told(new=new, reclaim=False)
        self._rule(tenant, rule)
        return Told(new=True, reclaim=True)

    def flight_moved(self, tenant: str) -> bool:
        """What a tenant's pools may have in flight (`in_flight`) moved: whether its budget
        rule moved with it (its pools are then claimed again)."""
        used = self.used.get(tenant)
        if used is None or self.config.tenants[tenant].daily_token_budget is None:
            return False
        rule = self._budget_rule(tenant, used)
        if self.rules.get(tenant, "") == rule:
            return False
        self._rule(tenant, rule)
        return True

    def _budget_rule(self, tenant: str, used: int) -> str | None:
        flight = self.in_flight.get(tenant, NOTHING_IN_FLIGHT)
        return budget_rule(
            self.config.tenants[tenant], used, flight.spend(self.task_tokens.get(tenant))
        )

    def _rule(self, tenant: str, rule: str | None) -> None:
        self.rules[tenant] = rule
        if rule == WARNING:
            self.paced.add(tenant)
        else:
            self.paced.discard(tenant)
