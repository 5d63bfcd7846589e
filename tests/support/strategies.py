"""Hypothesis strategies: random fleets, observations and overrides for the policy's properties."""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from controller.core.config import Config
from controller.core.model import Observations, Overrides, Pin, PoolObservation
from tests.support.factories import config, pool

FAST_LANE = "not e2e"
"""The marker expression of the fast lane (`make fast`): its properties are checked on a
quarter of the examples (the `fast` profile, loaded by tests/conftest.py), the full suite's
on all of them."""
settings.register_profile("fast", max_examples=25)


def examples(n: int) -> int:
    """A property's examples, or a seeded test's seeds: `n` in the full suite, a quarter of
    them (10 at least) in the fast lane, so that the lane runs every property and still takes
    under two minutes."""
    return max(10, n * settings.default.max_examples // 100) if n > 10 else n


# Made once, here: a strategy made inside a draw is made and checked again at every draw, and
# that cost more than the draws themselves.
TENANT = {
    "tier": st.sampled_from(["enterprise", "growth", "starter"]),
    "max_pods": st.none() | st.integers(1, 20),
    "daily_token_budget": st.none() | st.integers(1000, 5000),
    "hard_cap": st.booleans(),
}
PROVIDER = st.sampled_from([None, "openai", "anthropic"])
RPM_PER_REPLICA = st.integers(0, 60)
MIN_REPLICAS = st.integers(0, 3)
TARGET_LAG = st.integers(1, 5)
ACTIVATION_LAG = st.integers(0, 3)
PENDING, ACK_PENDING, REPLICAS = st.integers(0, 60), st.integers(0, 10), st.integers(0, 15)
TOKENS_TODAY = st.integers(0, 6000)
PIN = st.integers(0, 6)
ARRIVAL_RATE = st.none() | st.floats(0, 5)
MEAN_TASK_SECONDS = st.none() | st.floats(0.5, 60)


@st.composite
def fleets(draw: st.DrawFn) -> tuple[Config, Observations, Overrides]:
    tenant_names = [f"t{i}" for i in range(draw(st.integers(1, 4)))]
    tenants = {t: {field: draw(values) for field, values in TENANT.items()} for t in tenant_names}
    pools: dict[str, dict[str, Any]] = {}
    for i in range(draw(st.integers(1, 8))):
        low = draw(MIN_REPLICAS)
        pools[f"p{i}"] = pool(
            draw(st.sampled_from(tenant_names)),
            provider=draw(PROVIDER),
            rpm_per_replica=draw(RPM_PER_REPLICA),
            min_replicas=low,
            max_replicas=draw(st.integers(max(low, 1), 15)),
            target_lag_per_replica=draw(TARGET_LAG),
            activation_lag=draw(ACTIVATION_LAG),
        )
    cfg = config(
        pools,
        tenants,
        max_pods=draw(st.integers(1, 40)),
        providers={
            "openai": {"rpm": draw(st.integers(40, 500))},  # one replica (<= 60) fits
            "anthropic": {"rpm": draw(st.integers(40, 500))},
        },
    )
    observations = Observations(
        pools={
            name: PoolObservation(
                pending=draw(PENDING), ack_pending=draw(ACK_PENDING), replicas=draw(REPLICAS)
            )
            for name in pools
        },
        tokens_today={t: draw(TOKENS_TODAY) for t in tenant_names},
    )
    overrides = Overrides(
        pins={p: Pin(draw(PIN)) for p in draw(st.sets(st.sampled_from(list(pools))))},
        paused_tenants=frozenset(draw(st.sets(st.sampled_from(tenant_names)))),
    )
    return cfg, observations, overrides
