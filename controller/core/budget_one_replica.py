"""Step 4 of the policy (controller.core.budget), where a pace pays for less than one replica:
whether the pool keeps one all the same, for the tasks waiting, and what its reason adds.
"""

from __future__ import annotations

from controller.core.budget_price import Prices
from controller.core.config import TenantConfig
from controller.core.model import PoolObservation
from controller.core.spend_read import SpendRead


def one_replica(
    obs: PoolObservation,
    current: int,
    tenant: TenantConfig,
    spend: SpendRead | None,
    price: Prices,
    used: int,
    hours_known: bool,
) -> str | None:
    """What the reason adds where a pace that pays for less than one replica still gives the
    pool one for the tasks waiting (None: it does not).

    Read from the burn rate alone (no profile of the tenant's hours yet), a pace slows a queue
    but never strands it: a line through the last two hours, read before a fall shows, would
    otherwise round the pace down to no replica at all, and the tasks it covers would wait for
    the forecast to come right. Read from its own hours, the pace may stop a pool outright, so
    that the budget lasts the day; but it keeps one while the tenant has spent less than an
    even share of its budget by that hour of its day (rounded down to none, such a pace would
    spend a budget only in the day's last minutes, or not at all)."""
    if not hours_known:
        return f", at least 1 while {obs.pending + obs.ack_pending} wait"
    if spend is None:
        return None
    even = _even_share(tenant, tenant.daily_token_budget or 0, spend.at)
    # Hysteresis: a replica started runs its rounds (`price.round_count` of them, up to the
    # landing) before the line stops it, so it does not start for a single task.
    ahead = price.rounds if current >= 1 else 0.0
    if used + obs.ack_pending * price.each < even + ahead:
        return f", 1 while under an even share of the budget by now ({round(even):,})"
    return None


def _even_share(tenant: TenantConfig, budget: int, at: float) -> float:
    """What an even spend of the budget over the tenant's budget day comes to by `at`: a
    pace that pays for less than one replica keeps one while the tenant has spent less, so
    rounding a trickle down to nothing never leaves the budget unspent."""
    day = tenant.clock.day(at)
    return budget * (at - day.start) / (day.end - day.start)
