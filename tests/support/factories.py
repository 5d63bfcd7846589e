"""Small builders so each test states only what matters to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.core.config import Config, TenantConfig, parse_config
from controller.core.model import Observations, PoolObservation
from controller.core.spend import TenantSpend

TIERS = {
    "enterprise": {"priority": 1000},
    "growth": {"priority": 500},
    "starter": {"priority": 100},
}


def pool(tenant: str, **fields: Any) -> dict[str, Any]:
    """A pool's config; by default 1 lag per replica, 0..10 replicas."""
    return {"tenant": tenant, "target_lag_per_replica": 1, **fields}


def config(
    pools: dict[str, dict[str, Any]],
    tenants: dict[str, dict[str, Any]] | None = None,
    *,
    max_pods: int = 1000,
    providers: dict[str, dict[str, Any]] | None = None,
    interval: float = 1.0,
    tiers: dict[str, dict[str, Any]] | None = None,
    kubernetes: dict[str, Any] | None = None,
) -> Config:
    """A valid config; tenants default to one per pool's tenant name, in the enterprise tier.
    Each pool's Deployment and durable consumer are named after the pool."""
    for name, fields in pools.items():
        fields.setdefault("deployment", {"namespace": "agents", "name": name})
        fields.setdefault("queue", {"stream": "AGENT_TASKS", "consumer": name})
    if tenants is None:
        tenants = {p["tenant"]: {"tier": "enterprise"} for p in pools.values()}
    return parse_config(
        {
            "cluster": {"max_pods": max_pods},
            "tiers": tiers or TIERS,
            "tenants": tenants,
            "controller": {"interval_seconds": interval},
            "providers": providers or {},
            "pools": pools,
            "kubernetes": kubernetes or {},
        }
    )


def observe(tokens: dict[str, int] | None = None, **pools: tuple[int, int, int]) -> Observations:
    """Observations from `pool=(pending, ack_pending, replicas)`; pool names use _ for -."""
    return Observations(
        pools={
            name.replace("_", "-"): PoolObservation(
                pending=pending, ack_pending=ack, replicas=replicas, ready=replicas
            )
            for name, (pending, ack, replicas) in pools.items()
        },
        tokens_today=tokens or {},
    )


def spending(
    tenant: TenantConfig, rate: Callable[[float], float], start: float, end: float,
    step: float = 60.0, per_task: float = 1_000.0,
) -> tuple[TenantSpend, int]:  # fmt: skip
    """A tenant's spend as the engine learns it: sampled every `step` from `start` to `end`,
    `rate(t)` tokens a second, in tasks of `per_task` tokens, its count starting over at each
    of its budget resets; no task waits. The learner, and the tenant's tokens today at `end`."""
    spend = TenantSpend.for_tenant(tenant)
    used, day = 0.0, tenant.clock.day(start)
    t = start
    while t <= end:
        if tenant.clock.day(t) != day:
            used, day = 0.0, tenant.clock.day(t)
        spend.observe(round(used), t, round(used / per_task))
        used += rate(t) * step
        t += step
    return spend, spend.used or 0
