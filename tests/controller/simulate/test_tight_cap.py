"""Priority that holds under a tight cluster cap: on steady traffic that needs about as many
pods as the cluster allows, the enterprise tier waits no longer than it would under KEDA
(which keeps each pool's pods for its cooldown and grows first come, first served) or the
HPA."""

from __future__ import annotations

import math
import random

from controller.core.config import Config
from controller.simulate.backtest import backtest
from controller.simulate.trace import Trace
from tests.support.builders import trace
from tests.support.factories import config, pool

TENANTS = {"acme": "enterprise", "globex": "growth", "initech": "starter"}


def steady_traffic(seed: int) -> tuple[Config, Trace]:
    """20 minutes of Poisson arrivals, one pool a tenant, tasks of ~6 s (log-normal), two at
    once a pod. The enterprise pool comes first, 1.5 tasks a second; two minutes later the
    growth and starter pools, 1 a second each. The cap is the mean need, rounded up."""
    rng = random.Random(seed)
    rows: list[tuple[float, str, float, int]] = []
    for tenant, rate, start in (("acme", 1.5, 0.0), ("globex", 1.0, 120.0),
                                ("initech", 1.0, 120.0)):  # fmt: skip
        t = start + rng.expovariate(rate)
        while t < 1200.0:
            work = min(max(rng.lognormvariate(math.log(6.0), 0.8), 0.5), 120.0)
            rows.append((t, tenant, round(work, 2), 100))
            t += rng.expovariate(rate)
    need = sum(work for _, _, work, _ in rows) / 1200.0 / 2
    pools = {
        name: pool(name, target_lag_per_replica=2, max_replicas=30, concurrency=2)
        for name in TENANTS
    }
    tenants = {name: {"tier": tier} for name, tier in TENANTS.items()}
    cfg = config(pools, tenants, max_pods=math.ceil(need))
    return cfg, trace(cfg, *sorted(rows))


def test_the_enterprise_tier_waits_no_longer_than_under_keda_or_the_hpa_under_a_tight_cap() -> None:
    cfg, tasks = steady_traffic(8)
    assert cfg.cluster.max_pods == 14  # the mean need is 13.8 pods
    result = backtest(cfg, tasks, workers=1).as_dict()["policies"]
    ours, keda, hpa = (result[p]["by_tier"] for p in ("agentdash", "keda", "hpa"))
    assert ours["enterprise"]["wait_p95_s"] <= keda["enterprise"]["wait_p95_s"]
    assert ours["enterprise"]["wait_p95_s"] <= hpa["enterprise"]["wait_p95_s"]
    # and no tier starves for it: the cap is shared by weight, not by strict priority
    for tier in ("growth", "starter"):
        worse = max(keda[tier]["wait_p95_s"], hpa[tier]["wait_p95_s"])
        assert ours[tier]["wait_p95_s"] <= worse
    overall = (result[p]["wait_p95_s"] for p in ("keda", "hpa"))
    assert result["agentdash"]["wait_p95_s"] <= min(overall)
