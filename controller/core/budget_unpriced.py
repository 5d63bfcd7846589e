"""Step 4 of the policy, for a pool none of whose tasks has reported yet under a hard cap.

Under a hard cap counted from its workers' reports, such a pool grows to one replica at most
(or keeps what it has) until one of its tasks reports, while what is left is within
UNPRICED_SPREAD times its slots at the dearest price its tenant knows: nothing else says what
its tasks in flight would spend, and a guess must not overspend a hard cap. Where a tenant's
tokens come from Prometheus alone, no task ever reports, and warn_at and the landing
(controller.core.budget) hold the budget instead.
"""

from __future__ import annotations

from typing import NamedTuple

from controller.core.budget import WARNING
from controller.core.config import Config, PoolConfig, TenantConfig
from controller.core.model import Observations, PoolObservation, Reason

UNPRICED_SPREAD = 10.0
"""How much dearer than any price its tenant knows a pool's unreported tasks are taken to be:
a tenant's pools whose tasks cost a tenth of one another's are common (a classifier beside a
coding agent)."""


class Known(NamedTuple):
    """What a tenant's reports have told of its prices so far (its tokens counted from its
    workers' reports: its tasks done today are known)."""

    used: int
    """Its tokens today."""
    each: float | None
    """Its dearest tokens a task known: its pools' own, or its mean (None: none yet)."""


def unpriced_cap(
    config: Config,
    observations: Observations,
    obs: PoolObservation,
    pool: PoolConfig,
    want: int,
    reasons: list[Reason],
) -> int | None:
    """The most `pool` (read as `obs`) may have while none of its tasks has reported, with
    the reason where that holds back `want`; None where no such cap applies: its tasks are
    priced, its tenant's are not reported at all, or its tenant has no hard cap."""
    tenant = config.tenants[pool.tenant]
    if obs.task_tokens is not None or pool.tenant not in observations.tasks_today:
        return None
    if not tenant.hard_cap or not tenant.daily_token_budget:
        return None
    known = _known(config, observations, pool.tenant)
    return _cap(tenant, obs, pool, known, want, reasons)


def _cap(
    tenant: TenantConfig,
    obs: PoolObservation,
    pool: PoolConfig,
    known: Known,
    want: int,
    reasons: list[Reason],
) -> int | None:
    budget = tenant.daily_token_budget or 0
    slots = pool.max_replicas * pool.concurrency
    if known.each is not None and budget - known.used > slots * known.each * UNPRICED_SPREAD:
        return None
    cap = max(obs.replicas, 1 if obs.pending + obs.ack_pending > 0 else 0)
    if want > cap:
        reasons.append(Reason(rule=WARNING, template=FIRST_PRICE, args=(cap, want, cap)))
    return cap


def _known(config: Config, observations: Observations, tenant: str) -> Known:
    """What the tenant's reports have told of its prices: its pools' own tokens a task and its
    mean, the dearest of them."""
    prices = [
        obs.task_tokens
        for name in config.pools_of[tenant]
        if (obs := observations.pools.get(name)) is not None and obs.task_tokens is not None
    ]
    mean = observations.task_tokens.get(tenant)
    spend = observations.spend.get(tenant)
    if mean is None and spend is not None:
        mean = spend.per_task
    if mean is not None:
        prices.append(mean)
    used = observations.tokens_today.get(tenant, 0)
    return Known(used=used, each=max(prices) if prices else None)


FIRST_PRICE = (
    "hard cap, and no task of this pool reported yet (its tokens a task): no growth beyond {} "
    "until one does, {} -> {}"
)
UNPRICED_SAID = FIRST_PRICE[: FIRST_PRICE.index("{")]
"""How that reason begins, in the detail a follower is told as well (controller.core.pool_state)."""
