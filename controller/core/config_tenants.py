"""The tiers and tenants of agentdash.yaml: priorities, token budgets and the budget's day."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    Strict,
    StringConstraints,
)

from controller.core.accounting import BudgetClock
from controller.core.config_types import (
    Flag,
    Fraction,
    PosCount,
    PosReplicas,
    PosSeconds,
    StrictModel,
)


class TierConfig(StrictModel):
    priority: Annotated[int, Strict(), Field(ge=-(10**9), le=10**9)]
    """When a shared ceiling is short, the room is shared by weight: the lowest priority
    weighs 1, each one above it twice the one below (controller.core.allocation)."""
    target_wait_seconds: PosSeconds | None = None
    """Optional latency objective: the policy adds headroom (square-root staffing) so a
    task of this tier waits about this long at most. None: no headroom, nothing changes."""


_CLOCK_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def _reset_time(text: str) -> str:
    if not _CLOCK_TIME.fullmatch(text):
        raise ValueError("expected a time of day as HH:MM (24 h), such as 00:00 or 09:30")
    return text


_HOST_ZONES = ("localtime", "posixrules", "Factory")
"""Files of the zone database that are not zones of their own: the host's zone (another
answer on each machine), and placeholders."""


def _time_zone(name: str) -> str:
    if name != "UTC":
        try:
            if name in _HOST_ZONES or name.startswith(("posix/", "right/")):
                raise ValueError  # (right/ zones count leap seconds: not civil time)
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError("expected an IANA time zone, such as UTC or Europe/Berlin") from None
    return name


def _zero_is_not_none(none: str) -> Callable[[object], object]:
    """0 refused, saying what leaving the field out gives: many tools read 0 as unlimited."""

    def check(value: object) -> object:
        if type(value) is int and value == 0:
            raise ValueError(f"expected a number greater than 0, got 0 (leave it out for {none})")
        return value

    return check


class TenantConfig(StrictModel):
    tier: Annotated[str, Strict()]
    daily_token_budget: Annotated[
        PosCount | None, BeforeValidator(_zero_is_not_none("no budget"))
    ] = None
    """Tokens a day; none means unlimited."""
    warn_at: Fraction = 0.8
    """Fraction of the budget from which the pools are paced, if the forecast spend until the
    reset is more than what is left."""
    hard_cap: Flag = True
    """At 100% of the budget: true scales the tenant's pools to zero; false down to what the
    operator keeps warm (min_replicas, a pin), the queue waiting for the reset."""
    max_report_share: Fraction = 0.05
    """The most of the daily budget one usage report may spend: a report over it is held (not
    spent) and audited with its subject, pool and task. An agent's task rarely takes a few
    percent of a day's budget; so a forged or mistaken report cannot spend the day."""
    max_pods: Annotated[
        PosReplicas | None, BeforeValidator(_zero_is_not_none("no cap but the cluster's"))
    ] = None
    budget_reset: Annotated[str, Strict(), AfterValidator(_reset_time)] = "00:00"
    """When the daily budget starts over: a time of day (HH:MM) in `time_zone`."""
    time_zone: Annotated[
        str, Strict(), StringConstraints(max_length=64), AfterValidator(_time_zone)
    ] = "UTC"
    """The IANA time zone `budget_reset` is read in (Europe/Berlin, America/New_York)."""
    _epoch: float = PrivateAttr(0.0)
    """The Unix time of `now` = 0 for its clock (BudgetClock.epoch): 0 but in a replay."""

    @cached_property
    def clock(self) -> BudgetClock:
        """When this tenant's budget days start and end."""
        hours, minutes = self.budget_reset.split(":")
        zone = None if self.time_zone == "UTC" else ZoneInfo(self.time_zone)
        label = f"{self.budget_reset} {self.time_zone}"
        return BudgetClock(int(hours) * 60 + int(minutes), zone, label, epoch=self._epoch)

    def replayed_from(self, epoch: float) -> TenantConfig:
        """This tenant in a replay whose `now` = 0 is the Unix time `epoch` (a UTC midnight,
        or where a replayed part of a trace starts)."""
        tenant = self.model_copy()
        tenant.__dict__.pop("clock", None)  # a clock made already is for the other epoch
        tenant._epoch = epoch
        return tenant

    def replayed_later(self, seconds: float) -> TenantConfig:
        """This tenant in a replay of its trace from `seconds` on, moved to start at 0."""
        return self.replayed_from(self._epoch + seconds)
