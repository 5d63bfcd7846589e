"""Answers that are not one series per tenant: a query that is wrong (a range vector, a
scalar, an aggregation that drops the tenant or keeps the pod) from a real Prometheus, and
series a real one never sends, from a forged one. None of them may read as a tenant that
used nothing: that would lift a hard-capped tenant's budget."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from controller.core.bad_messages import BadMessages
from controller.core.connections import PrometheusConfig
from controller.sources.prometheus import PrometheusUsageSource
from tests.support import eventually, free_port
from tests.support.factories import config, pool
from tests.support.prometheus import TENANTS, Prometheus, QueryApi, vector

pytestmark = pytest.mark.e2e

CFG = config({"research": pool("acme"), "coder": pool("globex")}, TENANTS)
SUM = "sum by (tenant) (agent_tokens_consumed_total)"
KNOWN = {"acme": 9_000, "globex": 1_200}


@pytest.fixture
def pods_exporter() -> Iterator[int]:
    """acme's tokens from two pods (8,000 and 1,000), globex's from one (1,200)."""
    registry = CollectorRegistry()
    counter = Counter("agent_tokens_consumed", "Tokens the workers used", ["tenant", "pod"],
                      registry=registry)  # fmt: skip
    counter.labels("acme", "a").inc(8_000)
    counter.labels("acme", "b").inc(1_000)
    counter.labels("globex", "c").inc(1_200)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield port
    server.shutdown()
    thread.join(timeout=5)


async def test_a_query_that_is_not_one_series_per_tenant_is_no_usage_read(
    tmp_path: Path, pods_exporter: int
) -> None:
    prometheus = Prometheus(tmp_path, [pods_exporter])
    bad = BadMessages()
    wrong = {
        "agent_tokens_consumed_total": "more than one series",  # acme's two pods
        "agent_tokens_consumed_total[5m]": "range vector",
        "scalar(sum(agent_tokens_consumed_total))": "instant vector",
        "sum(agent_tokens_consumed_total)": "no tenant label",
        "sum by (pod) (agent_tokens_consumed_total)": "no tenant label",
    }
    try:
        right = PrometheusUsageSource(CFG, PrometheusConfig(url=prometheus.url, tokens_query=SUM))

        async def scraped() -> bool:
            await right.refresh()
            return right.usage(0).tokens_today == KNOWN

        await eventually(scraped, timeout=40, every=0.25)
        for query, why in wrong.items():
            settings = PrometheusConfig(url=prometheus.url, tokens_query=query)
            source = PrometheusUsageSource(CFG, settings, bad=bad)
            await source.refresh()
            usage = source.usage(0)
            assert usage.tokens_today == {}, query  # not known: never 0, nor one pod's share
            assert usage.stale is not None, query
            assert why in usage.stale, query
    finally:
        prometheus.stop()
    assert bad.counts["prometheus"] == len(wrong)


async def test_a_series_whose_value_is_not_a_sample_keeps_its_tenants_last_count() -> None:
    bad = BadMessages()
    async with QueryApi() as api:
        source = PrometheusUsageSource(CFG, PrometheusConfig(url=api.url), bad=bad)
        api.answer = vector(({"tenant": "acme"}, "9000"), ({"tenant": "globex"}, "1200"))
        await source.refresh()
        assert source.usage(0).tokens_today == KNOWN

        for value in (9000, None, "9 000", "1e300", "NaN"):
            api.answer = vector(({"tenant": "acme"}, value), ({"tenant": "globex"}, "1300"))
            await source.refresh()
            usage = source.usage(0)
            assert usage.tokens_today == {"acme": 9_000, "globex": 1_300}, value
            assert usage.stale is None  # globex's is fresh; acme's is counted as bad
    assert bad.counts["prometheus"] == 5


async def test_a_forged_series_that_names_no_tenant_is_not_read_as_no_usage() -> None:
    async with QueryApi() as api:
        source = PrometheusUsageSource(CFG, PrometheusConfig(url=api.url))
        api.answer = vector(({"tenant": "acme"}, "9000"), ({"tenant": "globex"}, "1200"))
        await source.refresh()
        api.answer = vector(({"tenant": "globex"}, "1300"), ({}, "50000"))
        await source.refresh()
    usage = source.usage(0)
    assert usage.tokens_today == KNOWN
    assert usage.stale is not None
    assert "no tenant label" in usage.stale
