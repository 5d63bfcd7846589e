"""Poisoned usage reports and decisions messages on a real nats-server, while a Reconciler
ticks on the simulated cluster: each is dropped and counted, the loop keeps ticking, a pool
with tasks still scales up, and the log gets one line per source per minute."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from controller.actuators.simcluster import SimulatedCluster
from controller.coordination.leader_decisions import (
    DECISIONS_SUBJECT,
    DecisionsEncoder,
    follow_decisions,
)
from controller.core.accounting import MAX_WORK_S
from controller.core.bad_messages import BadMessages
from controller.core.config import Config
from controller.core.events import TickEvent
from controller.core.model import Observations, PoolObservation, Reason, ScaleDecision
from controller.core.policy import decide
from controller.runtime.loop import Reconciler
from controller.runtime.metrics import Metrics
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import (
    NatsBusySource,
    NatsUsageSource,
    TokenLedger,
    UsageReport,
    check_report,
)
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool

TENANTS = {"acme": {"tier": "enterprise", "daily_token_budget": 1_000_000},
           "globex": {"tier": "growth", "daily_token_budget": 1_000_000}}  # fmt: skip
GOOD = {"tenant": "acme", "pool": "research", "tokens": 500, "work_s": 20.0, "task": "t1"}


def report(**fields: Any) -> bytes:
    return json.dumps({**GOOD, **fields}).encode()


POISON: list[tuple[str, bytes]] = [
    ("acme", b'{"tenant": "acme", "pool": "research", "tokens": 1, "work_s": Infinity}'),
    ("acme", b'{"tenant": "acme", "pool": "research", "tokens": 1, "work_s": -Infinity}'),
    ("acme", b'{"tenant": "acme", "pool": "research", "tokens": 1, "work_s": NaN}'),
    ("acme", report(work_s=1e308)),
    ("acme", report(work_s=-1)),
    ("acme", report(tokens=-1)),
    ("acme", report(tokens=10**18)),  # the forged report that once spent acme's budget
    ("acme", report(tokens=1e18)),
    ("acme", report(tokens=500.5)),  # no count of tokens
    ("acme", report(tokens="500")),
    ("acme", report(work_s="lots")),
    ("acme", report(tenant={"nested": [[[["junk"]]]]})),
    ("acme", b"[" * 50_000 + b"]" * 50_000),
    ("acme", b'{"tenant": "acme", "tokens": ' + b"9" * 5000 + b"}"),
    ("acme", b"\xff\xfe\x00 not UTF-8 \xc3\x28"),
    ("acme", report(task="x" * 1_000_000)),  # a 1 MB body
    ("acme", b""),
    ("acme", b"null"),
    ("acme", b'"a string"'),
    ("acme", report(tenant="evil")),  # an unknown tenant
    ("acme", report(pool="nope")),  # an unknown pool
    ("acme", report(pool="coder")),  # globex's pool, reported as acme's
    ("globex", report()),  # acme's report on globex's subject
]


def fleet() -> Config:
    return config({"research": pool("acme", cold_start_seconds=0),
                   "coder": pool("globex", cold_start_seconds=0)},
                  TENANTS, interval=0.05)  # fmt: skip


@pytest.fixture
async def running(nc: Client) -> AsyncIterator[tuple[Reconciler, SimulatedCluster, FakeClock]]:
    cfg = fleet()
    await ensure_queues(nc, cfg)
    lag = JetStreamLagSource(nc, cfg)
    await lag.start()
    log_clock = FakeClock()
    usage = NatsUsageSource(nc, cfg, clock=lambda: 0.0, bad=BadMessages(clock=log_clock))
    await usage.start()
    cluster = SimulatedCluster(cfg)
    loop = Reconciler(cfg, lag, usage, cluster, clock=lambda: 0.0)
    stop = asyncio.Event()
    runner = asyncio.create_task(loop.run(stop))
    try:
        yield loop, cluster, log_clock
    finally:
        stop.set()
        await runner
        await lag.stop()
        await cluster.close()


def bad_lines(caplog: pytest.LogCaptureFixture, source: str) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.name == "agentdash.bad_messages"]
    return [line for line in lines if f"bad {source} message" in line]


async def test_poisoned_usage_reports_are_dropped_counted_and_logged_once_a_minute(
    nc: Client,
    running: tuple[Reconciler, SimulatedCluster, FakeClock],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "agentdash.bad_messages")
    loop, cluster, log_clock = running
    assert isinstance(loop.usage, NatsUsageSource)
    source = loop.usage
    ticks = loop.bus.subscribe()
    for tenant, body in POISON:
        await nc.publish(f"agentdash.usage.{tenant}", body)
    await nc.publish("agentdash.usage.acme", report())  # one honest report among them
    for i in range(6):
        await nc.jetstream().publish(
            loop.config.subject("research"), json.dumps({"id": i}).encode()
        )

    await eventually(lambda: source.bad.counts["usage"] == len(POISON))
    await eventually(lambda: source.usage(0).tokens_today["acme"] == 500)
    await eventually(lambda: any(c[1] == "research" and c[2] > 0 for c in cluster.scale_calls))
    usage = source.usage(0)
    assert usage.tokens_today == {"acme": 500, "globex": 0}
    assert usage.mean_task_seconds == {"research": 20.0}  # nothing kept for "nope" or "evil"
    research = loop.decisions["research"]
    assert research.desired > 0
    assert research.main_reason.rule != "budget exhausted"

    seen = 0  # and the loop goes on ticking
    while seen < 3:
        if isinstance(await asyncio.wait_for(ticks.get(), timeout=5), TickEvent):
            seen += 1

    lines = bad_lines(caplog, "usage")
    # a flood is one line a minute for each tenant's subject, not one a message
    assert [line.split(": ")[1] for line in lines] == ["agentdash.usage.acme",
                                                       "agentdash.usage.globex"]  # fmt: skip
    assert all(len(line) < 400 for line in lines)
    log_clock.advance(61)
    await nc.publish("agentdash.usage.acme", report(tokens=-5))
    await eventually(lambda: len(bad_lines(caplog, "usage")) == 3)
    from_acme = sum(tenant == "acme" for tenant, _ in POISON)
    assert f"({from_acme - 1} more dropped since the last line)" in bad_lines(caplog, "usage")[2]

    metrics = Metrics(loop.config, source.bad)
    exposed = metrics.render().decode()
    assert f'agentdash_bad_messages_total{{source="usage"}} {len(POISON) + 1}.0' in exposed


async def test_each_tenants_bad_reports_are_told_apart_naming_its_subject(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The subject is who sent it (under the accounts, the tenant's workers): a warning that
    named no subject left an operator of many tenants to guess whose workers were broken, and
    one tenant's bad reports kept another's out of the log for the minute."""
    caplog.set_level(logging.WARNING, "agentdash.bad_messages")
    usage = NatsUsageSource(cast(Client, None), fleet(), clock=lambda: 0.0)  # no I/O needed
    busy = NatsBusySource(cast(Client, None), fleet(), clock=lambda: 0.0, bad=usage.bad)
    for tenant in ("acme", "acme", "globex"):
        await usage._on_report(Msg(cast(Any, None), f"agentdash.usage.{tenant}", data=b"junk"))
    await busy._on_report(Msg(cast(Any, None), "agentdash.busy.acme", data=b"junk"))
    lines = [r.getMessage() for r in caplog.records if r.name == "agentdash.bad_messages"]
    assert [line.split(": ")[1] for line in lines] == [
        "agentdash.usage.acme",
        "agentdash.usage.globex",
        "agentdash.busy.acme",
    ]
    assert usage.bad.counts["usage"] == 3


async def test_a_forged_decisions_message_never_reaches_a_follower(nc: Client) -> None:
    cfg = fleet()
    bad = BadMessages()
    heard: list[tuple[str, list[ScaleDecision]]] = []
    await follow_decisions(nc, lambda leader, d, _: heard.append((leader, d)), bad=bad,
                           pools=cfg.pools)  # fmt: skip
    good = ScaleDecision(
        pool="research",
        tenant="acme",
        current=1,
        desired=3,
        reasons=(Reason(rule="demand", template="lag 3"),),
        recommendation=3,
    )
    valid = json.loads(DecisionsEncoder("leader-1").messages(100.0, [good], {}, 1 << 20)[0])
    row = valid["r"][0]  # pool, tenant, current, desired, recommendation, held, ready, reasons

    def changed(head: int | None = None, field: int | None = None, value: Any = None) -> bytes:
        forged = json.loads(json.dumps(valid))
        if head is not None:
            forged["m"][head] = value
        if field is not None:
            forged["r"][0][field] = value
        return json.dumps(forged).encode()

    forged = [
        b"\xff\xfe",
        b"{}",
        b"[" * 50_000,
        changed(head=3, value="soon"),
        changed(field=3, value=-3),
        changed(field=3, value=1e308),
        changed(field=7, value=[]),
        changed(field=0, value=7),
        b'{"v": 2, "m": ["x", "e", 1, NaN, "f"], "i": 0, "n": 1, "r": []}',
        changed(head=0, value="m" * 100_000),
    ]
    for body in forged:
        await nc.publish(DECISIONS_SUBJECT, body)
    elsewhere = ["not-in-this-config", *row[1:]]
    await nc.publish(DECISIONS_SUBJECT, json.dumps({**valid, "r": [row, elsewhere]}).encode())

    await eventually(lambda: len(heard) == 1)
    assert bad.counts["decisions"] == len(forged)
    leader, decisions = heard[0]
    assert leader == "leader-1"
    assert [(d.pool, d.current, d.desired, d.main_reason.detail) for d in decisions] == [
        ("research", 1, 3, "lag 3")
    ]


@pytest.mark.parametrize("tokens", [b"1234.0", b"1.234e3", b"12340e-1"])
def test_a_whole_number_of_tokens_written_as_a_float_is_counted(tokens: bytes) -> None:
    """A worker that sums floats (Python, JavaScript) sends 1234.0: dropped as "not an
    integer", its every task went uncounted, and its tenant's hard cap was spent past."""
    body = b'{"tenant": "acme", "pool": "research", "tokens": ' + tokens + b', "work_s": 1}'
    ledger = TokenLedger(fleet())
    ledger.add(UsageReport.model_validate_json(body), now=0.0)
    assert ledger.usage(0.0).tokens_today["acme"] == 1234


@pytest.mark.parametrize(("task", "named"), [(b"42", "42"), (b"null", ""), (b'"t42"', "t42")])
def test_a_task_named_by_a_number_or_null_is_counted(task: bytes, named: str) -> None:
    """A worker that names the task by its stream sequence (`msg.metadata.sequence.stream`,
    an int) or sends null for none: its every report was dropped for a field that only names
    it in the audit, and its tenant's tokens went uncounted."""
    body = b'{"tenant": "acme", "pool": "research", "tokens": 7, "work_s": 1, "task": ' + task
    report = UsageReport.model_validate_json(body + b"}")
    ledger = TokenLedger(fleet())
    ledger.add(report, now=0.0)
    assert (report.task, ledger.usage(0.0).tokens_today["acme"]) == (named, 7)


@pytest.mark.parametrize("task", [b"true", b"4.2", b"[42]", b'"' + b"x" * 254 + b'"', b"9" * 254])
def test_a_task_that_names_nothing_is_still_dropped(task: bytes) -> None:
    body = b'{"tenant": "acme", "pool": "research", "tokens": 7, "work_s": 1, "task": ' + task
    assert isinstance(check_report(body + b"}", "agentdash.usage.acme", fleet()), str)


def test_no_task_time_that_reaches_the_ledger_is_non_finite() -> None:
    """Defence in depth: even a report built without validation cannot poison the mean."""
    cfg = fleet()
    ledger = TokenLedger(cfg)
    for work in (math.inf, math.nan, -math.inf, 1e308, -1.0):
        forged = UsageReport.model_construct(tenant="acme", pool="research", tokens=1, work_s=work)
        ledger.add(forged, 0.0)
        mean = ledger.usage(0.0).mean_task_seconds["research"]
        assert 0.0 <= mean <= MAX_WORK_S
    observation = PoolObservation(
        pending=50, ack_pending=0, replicas=1, ready=1, arrival_rate=1e6, mean_task_seconds=mean
    )
    research = decide(cfg, Observations({"research": observation}))[0]
    assert research.desired == 10  # max_replicas: a huge load, decided, not a crash
