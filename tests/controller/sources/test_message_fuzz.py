"""Random bodies against every message model: a handler drops what it cannot believe and
never raises; what it accepts is finite, in bounds and names what the config has."""

from __future__ import annotations

import json
import math
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import ValidationError

from controller.coordination.leader_decisions import DecisionsView, FullViewRequest, parse_decisions
from controller.coordination.overrides import MAX_PIN_REPLICAS, read_overrides
from controller.coordination.wire import MAX_REPLICAS
from controller.core.accounting import MAX_WORK_S
from controller.core.bad_messages import BadMessages
from controller.core.config import Config, ConfigError
from controller.core.connections import PrometheusConfig
from controller.sources.prometheus import MAX_TOKENS_TODAY, PrometheusUsageSource, WrongAnswer
from controller.sources.usage import MAX_TOKENS, NatsUsageSource
from tests.support.factories import config, pool
from tests.support.strategies import examples

CFG = config({"research": pool("acme"), "coder": pool("globex")})

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
junk = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
names = st.sampled_from(["acme", "globex", "research", "coder", "evil", ""]) | st.text(max_size=12)
numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**20), 10**20) | junk
reports = st.fixed_dictionaries(
    {}, optional={"tenant": names, "pool": names, "tokens": numbers, "work_s": numbers,
                  "task": junk}
)  # fmt: skip


def encoded(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()  # NaN and Infinity, as Python writes them


bodies = st.one_of(st.binary(max_size=200), junk.map(encoded), reports.map(encoded))


def source(cfg: Config) -> NatsUsageSource:
    return NatsUsageSource(cast(Client, None), cfg, clock=lambda: 0.0)  # the handler needs no I/O


@settings(max_examples=examples(400), deadline=None)
@given(body=bodies, tenant=names)
async def test_a_usage_report_is_believed_only_in_bounds(body: bytes, tenant: str) -> None:
    usage = source(CFG)
    await usage._on_report(Msg(cast(Any, None), f"agentdash.usage.{tenant}", data=body))
    seen = usage.usage(0.0)
    assert set(seen.tokens_today) == {"acme", "globex"}
    assert set(seen.mean_task_seconds) <= {"research", "coder"}
    assert all(0 <= t <= MAX_TOKENS for t in seen.tokens_today.values())
    assert all(0 <= s <= MAX_WORK_S for s in seen.mean_task_seconds.values())
    assert usage.bad.counts["usage"] + (sum(seen.tokens_today.values()) > 0 or
                                        bool(seen.mean_task_seconds)) <= 1  # fmt: skip


rows = (
    st.tuples(
        names,
        names,
        numbers,
        numbers,
        numbers,
        junk,
        numbers,
        st.lists(st.tuples(names, names) | junk, max_size=2),
    )
    | junk
)
decisions = st.fixed_dictionaries(
    {"v": st.sampled_from([2, 1, "2"]) | junk,
     "m": st.tuples(names, names, numbers, numbers, st.sampled_from(["f", "d", "x"])) | junk,
     "i": numbers, "n": numbers, "r": st.lists(rows, max_size=3)},
    optional={"g": st.lists(names, max_size=2) | junk, "want": names},
)  # fmt: skip


@settings(max_examples=examples(400), deadline=None)
@given(body=st.one_of(st.binary(max_size=200), junk.map(encoded), decisions.map(encoded)))
def test_a_decisions_message_is_parsed_or_refused(body: bytes) -> None:
    try:
        message = parse_decisions(body)
    except ValidationError:
        return  # what follow_decisions drops and counts
    if isinstance(message, FullViewRequest):
        return
    view = DecisionsView(CFG.pools)
    view.take(message)
    for d in view.decisions.values():
        assert d.pool in CFG.pools
        assert 0 <= d.current <= MAX_REPLICAS
        assert 0 <= d.desired <= MAX_REPLICAS
        assert d.reasons


overrides = st.fixed_dictionaries(
    {}, optional={"pins": st.dictionaries(names, st.fixed_dictionaries(
        {"replicas": numbers}, optional={"until": numbers, "by": junk}) | junk, max_size=2),
        "paused_tenants": st.lists(names, max_size=2) | junk, "paused": junk, "audit": numbers},
)  # fmt: skip


@settings(max_examples=examples(400), deadline=None)
@given(body=st.one_of(st.binary(max_size=200), junk.map(encoded), overrides.map(encoded)))
def test_a_kv_override_value_is_read_or_refused_in_one_line(body: bytes) -> None:
    try:
        document = read_overrides(body, "nats kv agentdash_overrides/overrides")
    except ConfigError as exc:
        refused = str(exc)
        assert refused.startswith("nats kv agentdash_overrides/overrides")
        return
    for pin in document.overrides(CFG).pins.values():
        assert 0 <= pin.replicas <= MAX_PIN_REPLICAS
        assert pin.until is None or math.isfinite(pin.until)


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["NaN", "+Inf", "-Inf", "1e400", "-0", "12.5", "oops"]),
)
series = st.fixed_dictionaries(
    {"metric": st.fixed_dictionaries({"tenant": names}) | junk,
     "value": st.tuples(st.floats(0, 2e9), values) | junk}
) | junk  # fmt: skip


@pytest.fixture(scope="module")
def prometheus() -> PrometheusUsageSource:
    settings = PrometheusConfig(url="http://127.0.0.1:9")  # never asked: only its answers
    return PrometheusUsageSource(CFG, settings, bad=BadMessages())


@settings(max_examples=examples(400), deadline=None)
@given(answer=st.lists(series, max_size=4) | junk)
def test_a_prometheus_answer_never_puts_a_bad_number_in_the_budgets(
    prometheus: PrometheusUsageSource, answer: Any
) -> None:
    try:
        tokens = prometheus._tokens_in(answer, ["acme", "globex"])
    except WrongAnswer:
        return  # not one series per tenant: the source goes stale, the budgets hold
    assert set(tokens) <= {"acme", "globex"}
    assert all(isinstance(t, int) and 0 <= t <= MAX_TOKENS_TODAY for t in tokens.values())
