"""Fleets that exercise every rule and ceiling of the policy (for the engine's exactness)."""

from __future__ import annotations

from controller.core.config import Config
from controller.core.connections import KubernetesConfig
from tests.support.factories import config, pool


def production_windows() -> Config:
    """The policy's default windows (cooldown 300 s, 30 s up / 300 s down, rate policies),
    a tight cluster quota and a small budget: every time rule and limit gets exercised."""
    tenants = {
        "acme": {"tier": "enterprise"},
        "initech": {"tier": "starter", "daily_token_budget": 400_000, "warn_at": 0.5},
    }
    return config(
        {
            "research": pool("acme", max_replicas=12, target_lag_per_replica=2),
            "support": pool("acme", max_replicas=6, min_replicas=1, concurrency=2),
            "summarize": pool("initech", max_replicas=8, activation_lag=1),
        },
        tenants,
        max_pods=14,
    )


def every_ceiling_tight() -> Config:
    """Shared ceilings that bind often: the cluster quota, a tenant's max_pods, a provider's
    rpm; three tiers; a soft budget next to a hard one."""
    tenants = {
        "acme": {"tier": "enterprise", "max_pods": 9},
        "globex": {"tier": "growth", "daily_token_budget": 300_000, "hard_cap": False},
        "initech": {"tier": "starter", "daily_token_budget": 250_000, "warn_at": 0.6},
    }
    return config(
        {
            "research": pool("acme", max_replicas=8, provider="openai", rpm_per_replica=30),
            "support": pool("acme", max_replicas=6, concurrency=2),
            "triage": pool("globex", max_replicas=7, provider="openai", rpm_per_replica=20),
            "summarize": pool("initech", max_replicas=8, activation_lag=1),
        },
        tenants,
        max_pods=12,
        providers={"openai": {"rpm": 250}},
    )


def throttled() -> Config:
    """A Kubernetes client budget so small that patches wait for it."""
    cfg = every_ceiling_tight()
    return cfg.model_copy(update={"kubernetes": KubernetesConfig(qps=0.2, burst=2)})


def tiers_with_a_target_wait() -> Config:
    """Two enterprise pools (a 30 s target_wait_seconds) and a starter pool (none)."""
    return config(
        {"research": pool("acme"), "support": pool("acme"), "batch": pool("initech")},
        {"acme": {"tier": "enterprise"}, "initech": {"tier": "starter"}},
        tiers={"enterprise": {"priority": 1000, "target_wait_seconds": 30},
               "starter": {"priority": 100}},
    )  # fmt: skip


def one_waking_pool() -> Config:
    """One pool, `chat`, of four tasks a replica, whose traffic keeps waking it (waking_bursts)."""
    return config({"chat": pool("acme", max_replicas=10, concurrency=4, target_lag_per_replica=4)})
