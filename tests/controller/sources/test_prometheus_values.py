"""A real Prometheus answering NaN, infinities, negative and absurd token counts (a buggy
exporter): each is dropped and counted, and the budgets keep their last known values."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from controller.core.bad_messages import BadMessages
from controller.core.connections import PrometheusConfig
from controller.core.model import Observations, PoolObservation
from controller.core.policy import decide
from controller.sources.prometheus import PrometheusUsageSource
from tests.support import eventually, free_port
from tests.support.factories import config, pool
from tests.support.prometheus import Prometheus

pytestmark = pytest.mark.e2e

TENANTS = {name: {"tier": "enterprise", "daily_token_budget": 10_000}
           for name in ("acme", "globex", "initech", "hooli")}  # fmt: skip
QUERY = "sum by (tenant) (agent_tokens_today)"


@pytest.fixture
def exporter() -> Iterator[tuple[int, Gauge]]:
    registry = CollectorRegistry()
    gauge = Gauge("agent_tokens_today", "Tokens used today", ["tenant"], registry=registry)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield port, gauge
    server.shutdown()
    thread.join(timeout=5)


async def test_nan_infinite_negative_and_huge_token_counts_never_reach_the_policy(
    tmp_path: Path, exporter: tuple[int, Gauge]
) -> None:
    port, gauge = exporter
    for tenant, used in (("acme", 8_500), ("globex", 1_200), ("initech", 300), ("hooli", 42)):
        gauge.labels(tenant).set(used)
    prometheus = Prometheus(tmp_path, [port])
    cfg = config({"research": pool("acme"), "coder": pool("globex"),
                  "summarize": pool("initech"), "search": pool("hooli")}, TENANTS)  # fmt: skip
    bad = BadMessages()
    source = PrometheusUsageSource(cfg, PrometheusConfig(url=prometheus.url, tokens_query=QUERY),
                                   bad=bad)  # fmt: skip
    try:

        async def answered(expected: dict[str, int]) -> bool:
            await source.refresh()
            return source.usage(0).tokens_today == expected

        await eventually(lambda: answered({"acme": 8_500, "globex": 1_200, "initech": 300,
                                           "hooli": 42}), timeout=40, every=0.25)  # fmt: skip
        assert bad.counts["prometheus"] == 0

        gauge.labels("acme").set(math.nan)
        gauge.labels("globex").set(-5)
        gauge.labels("initech").set(math.inf)
        gauge.labels("hooli").set(1e300)  # would exhaust any budget

        async def refused() -> bool:
            await source.refresh()
            return bad.counts["prometheus"] >= 4

        await eventually(refused, timeout=40, every=0.25)
        usage = source.usage(0)
    finally:
        prometheus.stop()
    assert usage.tokens_today == {"acme": 8_500, "globex": 1_200, "initech": 300, "hooli": 42}
    observations = Observations(
        {name: PoolObservation(pending=5, ack_pending=0, replicas=1) for name in cfg.pools},
        usage.tokens_today,
    )
    for decision in decide(cfg, observations):
        assert decision.main_reason.rule != "budget exhausted"
        assert decision.desired >= 1
