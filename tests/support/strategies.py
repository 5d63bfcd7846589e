"""Hypothesis strategies: random fleets, observations and overrides for the policy's properties."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from controller.core.config import Config
from controller.core.model import Observations, Overrides, Pin, PoolObservation
from tests.support.factories import config, pool


@st.composite
def fleets(draw: st.DrawFn) -> tuple[Config, Observations, Overrides]:
    tenant_names = [f"t{i}" for i in range(draw(st.integers(1, 4)))]
    tenants = {
        t: {
            "tier": draw(st.sampled_from(["enterprise", "growth", "starter"])),
            "max_pods": draw(st.none() | st.integers(1, 20)),
            "daily_token_budget": draw(st.none() | st.integers(1000, 5000)),
            "hard_cap": draw(st.booleans()),
        }
        for t in tenant_names
    }
    pools: dict[str, dict[str, Any]] = {}
    for i in range(draw(st.integers(1, 8))):
        low = draw(st.integers(0, 3))
        pools[f"p{i}"] = pool(
            draw(st.sampled_from(tenant_names)),
            provider=draw(st.sampled_from([None, "openai", "anthropic"])),
            rpm_per_replica=draw(st.integers(0, 60)),
            min_replicas=low,
            max_replicas=draw(st.integers(max(low, 1), 15)),
            target_lag_per_replica=draw(st.integers(1, 5)),
            activation_lag=draw(st.integers(0, 3)),
        )
    cfg = config(
        pools,
        tenants,
        max_pods=draw(st.integers(1, 40)),
        providers={
            "openai": {"rpm": draw(st.integers(10, 500))},
            "anthropic": {"rpm": draw(st.integers(10, 500))},
        },
    )
    observations = Observations(
        pools={
            name: PoolObservation(
                draw(st.integers(0, 60)), draw(st.integers(0, 10)), draw(st.integers(0, 15))
            )
            for name in pools
        },
        tokens_today={t: draw(st.integers(0, 6000)) for t in tenant_names},
    )
    overrides = Overrides(
        pins={p: Pin(draw(st.integers(0, 6))) for p in draw(st.sets(st.sampled_from(list(pools))))},
        paused_tenants=frozenset(draw(st.sets(st.sampled_from(tenant_names)))),
    )
    return cfg, observations, overrides
