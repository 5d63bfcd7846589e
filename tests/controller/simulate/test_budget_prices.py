"""A hard cap over pools whose tasks cost a hundred times less or more than one another's,
replayed: each pool's tasks are priced by its own, so the cap holds."""

from __future__ import annotations

from controller.simulate.backtest import make_scaler
from controller.simulate.report import summarize
from tests.support.builders import replay, trace
from tests.support.factories import config, pool

DAY = 86_400.0


def test_a_hard_cap_over_cheap_and_dear_pools_is_not_overspent() -> None:
    # 200,000 tokens a day. The cheap pool's tasks cost 1,000, the dear one's 10,000, one
    # for ten cheap ones: the tenant's mean, 1,900, would price the dear pool's tasks in
    # flight at a fifth of what they spend. Next day, 80 dear tasks wait at the reset.
    tenant = {"tier": "growth", "daily_token_budget": 200_000, "hard_cap": True}
    pools = {
        "cheap": pool("t", max_replicas=10, concurrency=2, cold_start_seconds=5),
        "dear": pool("t", max_replicas=30, concurrency=2, cold_start_seconds=5),
    }
    cfg = config(pools, {"t": tenant})
    rows = [(20.0 * i, "cheap", 30.0, 1_000) for i in range(3_000)]
    rows += [(200.0 * i + 1, "dear", 60.0, 10_000) for i in range(300)]
    rows += [(86_000.0 + i, "dear", 60.0, 10_000) for i in range(80)]
    tasks = trace(cfg, *sorted(rows))
    cluster = replay(cfg, tasks, make_scaler("agentdash", cfg))
    summary = summarize(cfg, tasks, cluster)
    assert summary["tokens_over_budget"] == 0
    started = {0: 0, 1: 0}
    for k in range(len(tasks)):
        if cluster.wait[k] >= 0:
            started[int((tasks.t[k] + cluster.wait[k]) // DAY)] += tasks.tokens[k]
    assert started[0] >= 180_000  # the first day's budget is spent, but for the margin
    assert summary["completed"] + summary["pending"] == len(tasks)  # the rest kept queued
    keda = summarize(cfg, tasks, replay(cfg, tasks, make_scaler("keda", cfg)))
    assert keda["tokens_over_budget"] > 1_000_000
