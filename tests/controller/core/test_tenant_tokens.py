"""What a tenant's tokens, as told to the engine, change: whether its spend has something new,
and whether its pools must be claimed again (its budget rule moved, or reads new figures)."""

from __future__ import annotations

from controller.core.budget import WARNING
from controller.core.tenant_tokens import NOTHING, TenantTokens, Told
from tests.support.factories import config, pool

BUDGET = 1_000_000  # warn_at 0.8: paced from 800,000 tokens


def book(*, exact_reasons: bool = False) -> TenantTokens:
    made = config(
        {"acme-agent": pool("acme"), "free-agent": pool("free")},
        {
            "acme": {"tier": "enterprise", "daily_token_budget": BUDGET},
            "free": {"tier": "starter"},
        },
    )
    return TenantTokens(made, exact_reasons=exact_reasons)


def test_the_same_figures_told_again_change_nothing() -> None:
    tokens = book()
    assert tokens.tell("acme", 1_000, tasks=3) == Told(new=True, reclaim=True)
    assert tokens.tell("acme", 1_000, tasks=3) == NOTHING


def test_a_tenant_without_a_budget_is_sampled_but_never_claimed_again() -> None:
    tokens = book()
    assert tokens.tell("free", 5_000_000) == Told(new=True, reclaim=False)
    assert "free" not in tokens.rules
    assert not tokens.paced


def test_crossing_warn_at_paces_the_tenant_and_claims_its_pools_again() -> None:
    tokens = book()
    tokens.tell("acme", 100_000)
    assert tokens.tell("acme", 200_000) == Told(new=True, reclaim=False)  # the rule stands
    assert tokens.tell("acme", 850_000) == Told(new=True, reclaim=True)
    assert tokens.rules["acme"] == WARNING
    assert tokens.paced == {"acme"}
    # Past warn_at the figures are the pace's: each new one claims the pools again only
    # where the reasons must quote it (the live loop) or its staleness changed.
    assert tokens.tell("acme", 860_000).reclaim is False
    assert tokens.tell("acme", 860_000, stale="usage source down").reclaim is True
    assert book(exact_reasons=True).tell("acme", 850_000).reclaim is True


def test_tokens_no_longer_known_end_the_pace() -> None:
    tokens = book()
    tokens.tell("acme", 850_000)
    assert tokens.tell("acme", None) == Told(new=True, reclaim=True)
    assert tokens.rules["acme"] is None
    assert not tokens.paced
    assert tokens.tell("acme", None) == NOTHING
