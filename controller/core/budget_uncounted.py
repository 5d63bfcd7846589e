"""Step 4 of the policy, for a hard cap whose tokens today are not known.

A token source that has not answered since this process started (Prometheus down, or cut
off by a NetworkPolicy, when the daemon restarts or fails over) gives no count at all. Read
as no budget, it would lift every hard cap: a tenant past its cap would go from 0 pods to as
many as its queue asks for. Read as zero, the same. So its pools keep what they have (or
their floor) and grow no further until a count comes: missing data scales nothing down, and
spends past no cap it cannot see. A soft cap is left to run.
"""

from __future__ import annotations

from typing import Final

from controller.core.config import TenantConfig
from controller.core.model import Reason

UNCOUNTED: Final = "budget uncounted"
_WORDS = (
    "tenant {} has a hard cap of {:,} tokens a day, and its tokens today are not known ({}): "
    "no growth beyond {} until they are, {} -> {}"
)


def uncounted_rule(tenant: TenantConfig, stale: str | None) -> str | None:
    """For a tenant whose tokens today are not known: UNCOUNTED where it has a hard cap and
    its source says why (it fails), the rule controller.core.budget.budget_rule cannot give
    without a count."""
    if stale and tenant.hard_cap and tenant.daily_token_budget is not None:
        return UNCOUNTED
    return None


def no_growth(
    tenant: str, budget: int, why: str, want: int, kept: int, reasons: list[Reason]
) -> int:
    """What a pool of such a tenant may have: `want`, at most `kept` (what it has, or its
    floor), with the reason where that holds it."""
    if want <= kept:
        return want
    args = (tenant, budget, why, kept, want, kept)
    reasons.append(Reason(rule=UNCOUNTED, template=_WORDS, args=args))
    return kept
