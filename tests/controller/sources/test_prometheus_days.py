"""A tenant's tokens today, from Prometheus: counted since its budget day began, and never
less within that day. A sliding `[1d]` read a tenant that spent its budget yesterday as
spent for most of today; a Prometheus that lost its data read as a fresh budget."""

from __future__ import annotations

import logging

import pytest

from controller.core.connections import PrometheusConfig
from controller.sources.prometheus import PrometheusUsageSource
from tests.support import FakeClock
from tests.support.factories import config, pool
from tests.support.prometheus import QueryApi, vector

HOUR = 3600.0
DAY = 24 * HOUR
TENANTS = {
    "acme": {"tier": "enterprise", "daily_token_budget": 10_000},
    "globex": {"tier": "growth", "daily_token_budget": 10_000, "budget_reset": "06:00"},
}
CFG = config({"research": pool("acme"), "coder": pool("globex")}, TENANTS)


async def test_the_default_query_counts_from_each_tenants_budget_reset() -> None:
    clock = FakeClock(10 * DAY + 9 * HOUR + 5.5)  # 09:00:05.5 UTC
    async with QueryApi() as api:
        source = PrometheusUsageSource(CFG, PrometheusConfig(url=api.url), clock=clock)
        api.answer = vector(({"tenant": "acme"}, "700"), ({"tenant": "globex"}, "300"))
        await source.refresh()
    # one query a budget day: acme's began at midnight, globex's at 06:00
    assert sorted(api.queries) == [
        "sum by (tenant) (increase(agent_tokens_consumed_total[10806s]))",
        "sum by (tenant) (increase(agent_tokens_consumed_total[32406s]))",
    ]
    assert source.usage(clock()).tokens_today == {"acme": 700, "globex": 300}


async def test_a_query_without_since_is_asked_once_as_written() -> None:
    query = "sum by (tenant) (agent_tokens_today)"
    async with QueryApi() as api:
        source = PrometheusUsageSource(CFG, PrometheusConfig(url=api.url, tokens_query=query))
        await source.refresh()
    assert api.queries == [query]


async def test_a_count_never_falls_within_the_budget_day() -> None:
    """A Prometheus restarted without its data answers nothing: the day's count stands until
    the tenant's day is over."""
    clock = FakeClock(10 * DAY + 9 * HOUR)
    query = "sum by (tenant) (agent_tokens_today)"
    async with QueryApi() as api:
        source = PrometheusUsageSource(
            CFG, PrometheusConfig(url=api.url, tokens_query=query), clock=clock
        )
        api.answer = vector(({"tenant": "acme"}, "12000"), ({"tenant": "globex"}, "4000"))
        await source.refresh()
        api.answer = vector()  # its TSDB wiped
        clock.advance(HOUR)
        await source.refresh()
        assert source.usage(clock()).tokens_today == {"acme": 12_000, "globex": 4_000}
        assert source.usage(clock()).stale is None

        clock.advance(15 * HOUR)  # 01:00 UTC: acme's new day; globex's begins at 06:00
        await source.refresh()
        assert source.usage(clock()).tokens_today == {"acme": 0, "globex": 4_000}


async def test_a_query_that_names_no_tenant_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    """A misspelt metric answers an empty vector for good: every budget read 0 tokens, and
    nothing said so."""
    caplog.set_level(logging.WARNING, logger="agentdash.prometheus")
    async with QueryApi() as api:
        source = PrometheusUsageSource(CFG, PrometheusConfig(url=api.url))
        for _ in range(3):
            await source.refresh()
        said = [r.getMessage() for r in caplog.records]
        assert said == [
            f"Prometheus {api.url}: the token query has no series for any of the 2 tenants: "
            "each reads 0 tokens today (if they have spent, check tokens_query)"
        ]
        api.answer = vector(({"tenant": "acme"}, "5"))
        await source.refresh()
        api.answer = vector()
        await source.refresh()
        assert len(caplog.records) == 2  # said again once it had named one
