"""What the engine is told of each tenant's tokens: the tokens used today (and why they are
only the last known, where they are), the tasks its workers reported done today, the budget
rule those tokens put it under, and which tenants the budget pace holds.

Pure bookkeeping for controller.core.engine, which claims a tenant's pools again when `tell`
says its rule moved (or, past warn_at, at every step: `paced`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from controller.core.budget import WARNING, budget_rule, in_flight
from controller.core.config import Config


class Told(NamedTuple):
    """What a tenant's tokens, as told, changed."""

    new: bool
    """Anything new was told: its spend samples it."""
    reclaim: bool
    """Its budget rule moved, or reads other figures: its pools are claimed again."""


NOTHING = Told(new=False, reclaim=False)


class TenantTokens:
    """Each tenant's tokens today as told, and its budget rule as of them."""

    def __init__(
        self, config: Config, *, exact_reasons: bool = False, held: Mapping[str, int] | None = None
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
        self.held: Mapping[str, int] = {} if held is None else held
        """Per tenant, the tasks its pools hold now, as the engine reads them (its own
        count, not a copy): the most it may have in flight (controller.core.budget.in_flight)."""

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
            if self.used.pop(tenant, None) is None:
                return Told(new=new, reclaim=False)
            self._rule(tenant, None)
            return Told(new=True, reclaim=True)
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

    def lagged(self, tenant: str) -> bool:
        """The tasks a tenant's pools hold (`held`) moved: whether its budget rule moved with
        them (its pools are then claimed again)."""
        used = self.used.get(tenant)
        if used is None or self.config.tenants[tenant].daily_token_budget is None:
            return False
        rule = self._budget_rule(tenant, used)
        if self.rules.get(tenant, "") == rule:
            return False
        self._rule(tenant, rule)
        return True

    def _budget_rule(self, tenant: str, used: int) -> str | None:
        most = in_flight(self.config.most_in_flight[tenant], self.held.get(tenant, 0))
        return budget_rule(self.config.tenants[tenant], used, self.task_tokens.get(tenant), most)

    def _rule(self, tenant: str, rule: str | None) -> None:
        self.rules[tenant] = rule
        if rule == WARNING:
            self.paced.add(tenant)
        else:
            self.paced.discard(tenant)
