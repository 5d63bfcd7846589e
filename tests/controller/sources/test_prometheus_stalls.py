"""A Prometheus (or a proxy in front of it) that answers a byte at a time, without end, or
more than any tenant list needs: the query ends within its timeout and its byte limit, the
budgets hold their last known values and say why, and a stop closes the connection."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from controller.core.connections import PrometheusConfig
from controller.sources.prometheus import ANSWER_BYTES, PrometheusUsageSource
from tests.support.factories import config, pool
from tests.support.prometheus import TENANTS, QueryApi, vector

pytestmark = pytest.mark.e2e

CFG = config({"research": pool("acme"), "coder": pool("globex")}, TENANTS)
KNOWN = {"acme": 9_000, "globex": 1_200}
DEADLINE = 30.0
"""Far beyond the source's timeout: reached only if the query never ends."""


class Drip:
    """A query API answer whose body comes a byte every 50 ms and never ends; `started` is
    set when a query is being answered, `gone` when the client has closed its connection."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.gone = asyncio.Event()

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        self.started.set()
        try:
            while True:
                await response.write(b" ")
                await asyncio.sleep(0.05)  # the pace of the drip, not a wait for an outcome
        except (ConnectionError, RuntimeError):  # aiohttp says a closed one either way
            self.gone.set()
        return response


async def known(api: QueryApi, timeout: float = 0.5) -> PrometheusUsageSource:
    source = PrometheusUsageSource(CFG, PrometheusConfig(url=api.url), timeout=timeout)
    api.answer = vector(({"tenant": "acme"}, "9000"), ({"tenant": "globex"}, "1200"))
    await source.refresh()
    assert source.usage(0).tokens_today == KNOWN
    return source


async def test_an_answer_that_comes_a_byte_at_a_time_makes_the_budgets_stale() -> None:
    async with QueryApi() as api:
        source = await known(api)
        drip = Drip()
        api.handler = drip
        await asyncio.wait_for(source.refresh(), DEADLINE)
        usage = source.usage(0)
        assert usage.tokens_today == KNOWN
        assert usage.stale is not None
        assert "no whole answer within 0.5 s" in usage.stale
        await asyncio.wait_for(drip.gone.wait(), DEADLINE)  # the connection is not kept


async def test_a_stop_during_a_query_closes_its_connection() -> None:
    async with QueryApi() as api:
        settings = PrometheusConfig(url=api.url, interval_seconds=1)
        source = PrometheusUsageSource(CFG, settings, timeout=DEADLINE)
        await source.start()
        drip = Drip()
        api.handler = drip
        await asyncio.wait_for(drip.started.wait(), DEADLINE)  # the next poll's query
        await asyncio.wait_for(source.stop(), DEADLINE)
        await asyncio.wait_for(drip.gone.wait(), DEADLINE)


async def test_an_answer_larger_than_the_limit_is_not_read_whole() -> None:
    padding = "x" * ANSWER_BYTES
    async with QueryApi() as api:
        source = await known(api, timeout=DEADLINE)
        api.answer = vector(({"tenant": "acme", "padding": padding}, "10"),
                            ({"tenant": "globex"}, "10"))  # fmt: skip
        assert len(json.dumps(api.answer)) > ANSWER_BYTES
        await source.refresh()
    usage = source.usage(0)
    assert usage.tokens_today == KNOWN
    assert usage.stale is not None
    assert f"more than {ANSWER_BYTES:,} bytes" in usage.stale
