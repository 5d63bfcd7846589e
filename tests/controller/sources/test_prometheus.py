"""Token usage from a real Prometheus (Debian's package), scraping a local exporter, and
agentdash's own metrics as Prometheus sees them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from controller.core.connections import PrometheusConfig
from controller.core.events import TickEvent
from controller.core.model import Observations, PoolObservation
from controller.core.policy import decide
from controller.runtime.metrics import Metrics
from controller.sources.prometheus import PrometheusUsageSource
from tests.support import eventually, free_port
from tests.support.factories import config, pool
from tests.support.prometheus import TENANTS, Prometheus, requires_prometheus

pytestmark = [pytest.mark.e2e, requires_prometheus]

SUM = "sum by (tenant) (agent_tokens_consumed_total)"


@pytest.fixture
def tokens_exporter() -> Iterator[tuple[int, Counter]]:
    registry = CollectorRegistry()
    counter = Counter("agent_tokens_consumed", "Tokens the workers used", ["tenant"],
                      registry=registry)  # fmt: skip
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield port, counter
    server.shutdown()
    thread.join(timeout=5)


async def test_token_usage_comes_from_prometheus_and_holds_when_it_goes(
    tmp_path: Path, tokens_exporter: tuple[int, Counter]
) -> None:
    port, counter = tokens_exporter
    counter.labels("acme").inc(8_500)
    counter.labels("globex").inc(1_200)
    prometheus = Prometheus(tmp_path, [port])
    cfg = config({"research": pool("acme"), "coder": pool("globex")}, TENANTS)
    source = PrometheusUsageSource(cfg, PrometheusConfig(url=prometheus.url, tokens_query=SUM))
    try:

        async def answered() -> bool:
            await source.refresh()
            return source.usage(0).tokens_today == {"acme": 8_500, "globex": 1_200}

        await eventually(answered, timeout=40, every=0.25)
        assert source.usage(0).stale is None
    finally:
        prometheus.stop()

    await source.refresh()
    usage = source.usage(0)
    assert usage.tokens_today == {"acme": 8_500, "globex": 1_200}  # held, never reset
    assert usage.stale is not None
    assert prometheus.url in usage.stale
    observations = Observations(
        {
            "research": PoolObservation(pending=9, ack_pending=0, replicas=1),
            "coder": PoolObservation(pending=0, ack_pending=0, replicas=0),
        },
        usage.tokens_today,
        dict.fromkeys(usage.tokens_today, usage.stale),
    )
    research = decide(cfg, observations)[0]
    assert research.main_reason.rule == "budget warning"
    assert "last known" in research.main_reason.detail


async def test_the_default_query_reads_the_increase_since_the_budget_reset(
    tmp_path: Path, tokens_exporter: tuple[int, Counter]
) -> None:
    port, counter = tokens_exporter
    counter.labels("acme").inc(100)
    prometheus = Prometheus(tmp_path, [port])
    # a day that began two hours ago, whatever the hour the test runs at
    reset = time.strftime("%H:%M", time.gmtime(time.time() - 2 * 3600))
    tenants = {"acme": {**TENANTS["acme"], "budget_reset": reset}}
    cfg = config({"research": pool("acme")}, tenants)
    source = PrometheusUsageSource(cfg, PrometheusConfig(url=prometheus.url))
    raw = PrometheusUsageSource(cfg, PrometheusConfig(url=prometheus.url, tokens_query=SUM))
    try:

        async def first_sample() -> bool:
            await raw.refresh()
            return raw.usage(0).tokens_today.get("acme") == 100

        await eventually(first_sample, timeout=40, every=0.25)
        counter.labels("acme").inc(5_000)  # after the first scrape: an increase to see

        async def grew() -> bool:
            counter.labels("acme").inc(10)
            await source.refresh()
            return source.usage(0).tokens_today.get("acme", 0) >= 5_000

        await eventually(grew, timeout=40, every=0.25)
    finally:
        prometheus.stop()


async def test_prometheus_scrapes_agentdashs_own_metrics(tmp_path: Path) -> None:
    cfg = config({"research": pool("acme")}, TENANTS)
    metrics = Metrics(cfg)
    decisions = decide(
        cfg, Observations({"research": PoolObservation(pending=7, ack_pending=0, replicas=2)})
    )
    metrics.observe(TickEvent(0.0, tuple(decisions), 0.003))
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    prometheus = Prometheus(tmp_path, [port])
    try:

        async def scraped() -> bool:
            found = await asyncio.to_thread(prometheus.query, "agentdash_pool_desired_replicas")
            return bool(found) and found[0]["value"][1] == "7"

        await eventually(scraped, timeout=40, every=0.25)
        count = await asyncio.to_thread(prometheus.query,
                                        "agentdash_reconcile_duration_seconds_count")  # fmt: skip
        assert count[0]["value"][1] == "1"
    finally:
        prometheus.stop()
        server.shutdown()
        thread.join(timeout=5)
