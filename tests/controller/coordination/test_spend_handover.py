"""The budget forecast's memory in NATS KV (controller.coordination.spend_handover), on a real
JetStream: a successor forecasts and paces as the old leader would have, garbage in the bucket
is ignored, counted and logged, and a tenant sampled at every tick is written once a minute."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import pytest
from nats.aio.client import Client

from controller.actuators.simcluster import SimulatedCluster
from controller.coordination.spend_handover import BUCKET, SAVE_S, SpendHandover, key_of
from controller.core.config import Config
from controller.core.model import Observations, PoolObservation, ScaleDecision
from controller.core.policy import decide
from controller.core.spend import SpendBook
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import TokenLedger, UsageReport
from tests.support import FakeClock
from tests.support.factories import config, pool

H = 3600.0
DAY = 86_400.0


def fleet() -> Config:
    tenants = {"acme": {"tier": "growth", "daily_token_budget": 10_000_000}}
    return config({"research": pool("acme", max_replicas=20)}, tenants)


def rate(t: float) -> float:
    """Tokens a second: a half-sine from 02:00 to 12:00 UTC, every day."""
    x = ((t % DAY) / H - 2) / 10
    return 300.0 * math.sin(math.pi * x) if 0 <= x < 1 else 0.0


class Tenant:
    """acme's usage, sampled as the engine samples it: tokens and tasks done today."""

    def __init__(self) -> None:
        self.used = 0.0
        self.day = 0

    def sample(self, book: SpendBook, t: float) -> None:
        if int(t // DAY) != self.day:
            self.used, self.day = 0.0, int(t // DAY)
        book.observe("acme", round(self.used), t, round(self.used / 1_000))
        self.used += rate(t) * 60


async def handover(nc: Client, cfg: Config) -> SpendHandover:
    made = SpendHandover(nc, cfg)
    await made.start()
    return made


def research(cfg: Config, book: SpendBook, used: int, now: float) -> ScaleDecision:
    obs = Observations(
        {
            "research": PoolObservation(
                pending=10, ack_pending=4, replicas=7, ready=7, mean_task_seconds=30.0
            )
        },
        tokens_today={"acme": used},
        replica_seconds_today={"acme": used / 30},
        spend={name: spend.read(now) for name, spend in book.tenants.items()},
    )
    return decide(cfg, obs, now=now)[0]


async def test_a_successor_forecasts_and_paces_as_the_old_leader_would_have(nc: Client) -> None:
    cfg = fleet()
    old, usage = SpendBook(cfg), Tenant()
    saver = await handover(nc, cfg)
    await saver.restore(old, 0.0)
    for t in range(0, int(2 * DAY + 9 * H), 60):  # two days and a morning
        usage.sample(old, float(t))
        await saver.save(old, float(t))
    now = 2 * DAY + 9 * H
    successor, forgetful = SpendBook(cfg), SpendBook(cfg)
    assert await (await handover(nc, cfg)).restore(successor, now) == 1
    for t in range(int(now), int(now + 5 * 60), 60):  # all three see the next minutes
        used, tasks = round(usage.used), round(usage.used / 1_000)
        for book in (old, successor, forgetful):
            book.observe("acme", used, float(t), tasks)
        usage.used += rate(t) * 60
    later = now + 4 * 60
    want = old.tenants["acme"].forecast(later)
    got = successor.tenants["acme"].forecast(later)
    assert want is not None
    assert got is not None
    assert got.days == want.days == 2  # the old leader's two days of its hours
    # The same, but for the last minute or two before the old leader's last write.
    assert got.tokens == pytest.approx(want.tokens, rel=0.02)
    assert forgetful.tenants["acme"].forecast(later) is None  # no profile, no burn rate yet
    # Past warn_at the successor paces as the old leader would have; a forgetful one cannot.
    used = 9_000_000
    assert research(cfg, successor, used, later).desired == research(cfg, old, used, later).desired
    assert "(budget pace)" in research(cfg, successor, used, later).main_reason.detail
    assert "no forecast yet" in research(cfg, forgetful, used, later).main_reason.detail


async def test_a_successor_whose_clock_is_behind_takes_the_old_leaders_profile(
    nc: Client,
) -> None:
    """The old leader's clock was 30 s ahead (another host's): what it wrote is "in the
    future" here. Refused so, the successor lost the tenant's hourly profile (two days of
    learning) and its burn rate; taken, moved back to now, it forecasts as the old leader."""
    cfg = fleet()
    old, usage = SpendBook(cfg), Tenant()
    saver = await handover(nc, cfg)
    await saver.restore(old, 0.0)
    for t in range(0, int(2 * DAY + 9 * H), 60):
        usage.sample(old, float(t))
        await saver.save(old, float(t))
    now = 2 * DAY + 9 * H - 60  # the old leader wrote at this time on its clock
    behind = now - 30.0
    successor = SpendBook(cfg)
    assert await (await handover(nc, cfg)).restore(successor, behind) == 1
    for t in range(int(now), int(now + 5 * 60), 60):
        used, tasks = round(usage.used), round(usage.used / 1_000)
        old.observe("acme", used, float(t), tasks)
        successor.observe("acme", used, t - 30.0, tasks)
        usage.used += rate(t) * 60
    want = old.tenants["acme"].forecast(now + 4 * 60)
    got = successor.tenants["acme"].forecast(now + 4 * 60 - 30.0)
    assert want is not None
    assert got is not None
    assert got.days == want.days == 2
    assert got.tokens == pytest.approx(want.tokens, rel=0.02)


async def test_a_tenant_sampled_at_every_tick_is_written_once_a_minute(nc: Client) -> None:
    cfg = fleet()
    book, usage = SpendBook(cfg), Tenant()
    saver = await handover(nc, cfg)
    await saver.restore(book, 0.0)
    for t in range(0, 300):
        usage.sample(book, 3 * H + t)
        await saver.save(book, 3 * H + t)
    assert saver.writes == math.ceil(300 / SAVE_S)
    usage.sample(book, DAY + 1)  # a new day: its profile folds, written at once
    await saver.save(book, DAY + 1)
    assert saver.writes == math.ceil(300 / SAVE_S) + 1


def _doc(good: dict[str, Any], **change: Any) -> bytes:
    return json.dumps({**good, **change}).encode()


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"bins": [None] * 24}, "bins: List should have at least 25 items"),
        ({"bins": [-1.0] + [None] * 24}, "bins.0: Input should be greater than or equal to 0"),
        ({"today_seconds": [1e9] * 25}, "today_seconds.0: Input should be less than or equal to"),
        ({"days": [1.5] * 25}, "days.0: Input should be a valid integer"),
        ({"tokens": [1.0], "seconds": []}, "expected lists of one length"),
        ({"task_count": "10"}, "task_count: Input should be a valid number"),
        ({"at": 1e12}, "s after now, more than 86400 s"),
        ({"v": 2}, "v: format 2, newer than the 1 this agentdash reads"),
    ],
)
async def test_a_bad_value_is_ignored_counted_and_logged_with_what_is_wrong(
    nc: Client, caplog: pytest.LogCaptureFixture, change: dict[str, Any], why: str
) -> None:
    cfg = fleet()
    old, usage = SpendBook(cfg), Tenant()
    saver = await handover(nc, cfg)
    await saver.restore(old, 0.0)
    for t in range(0, int(DAY + 3 * H), 60):
        usage.sample(old, float(t))
    await saver.save(old, DAY + 3 * H)
    kv = await nc.jetstream().key_value(BUCKET)
    good = json.loads((await kv.get(key_of("acme"))).value)
    await kv.put(key_of("acme"), _doc(good, **change))
    caplog.set_level(logging.WARNING, logger="agentdash.handover")

    successor = SpendBook(cfg)
    reader = await handover(nc, cfg)
    assert await reader.restore(successor, DAY + 3 * H) == 0
    assert reader.bad.counts["handover"] == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "agentdash.handover"]
    assert len(warnings) == 1
    assert "ignored 1 value(s) in agentdash_spend" in warnings[0]
    assert why in warnings[0]
    assert successor.tenants["acme"].forecast(DAY + 3 * H) is None  # as a new process


async def test_garbage_that_is_not_json_is_ignored(nc: Client) -> None:
    cfg = fleet()
    kv = await nc.jetstream().create_key_value(bucket=BUCKET, history=1)  # with no bounds
    saver = await handover(nc, cfg)
    deep = b"[" * 1000  # deeper than json.loads follows: it raised, and no process started
    for value in (b"\xff\xfe not utf-8", b"{not json", b"[" + b"0," * 40_000 + b"0]", deep):
        await kv.put(key_of("acme"), value)
        assert await saver.restore(SpendBook(cfg), 100.0) == 0
    assert saver.bad.counts["handover"] == 4


async def reconciler(nc: Client, cfg: Config, clock: FakeClock) -> Reconciler:
    """A leader (no lease) with its own handover, as the daemon wires one."""
    await ensure_queues(nc, cfg)
    lag = JetStreamLagSource(nc, cfg, clock=clock)
    await lag.start()
    saver = await handover(nc, cfg)
    return Reconciler(cfg, lag, TokenLedger(cfg), SimulatedCluster(cfg, clock=clock),
                      clock=clock, spend_handover=saver)  # fmt: skip


async def test_a_new_leader_reads_the_spend_before_its_first_decision(nc: Client) -> None:
    cfg = fleet()
    clock = FakeClock(start=DAY + 6 * H)
    old = await reconciler(nc, cfg, clock)
    assert isinstance(old.usage, TokenLedger)
    for _ in range(15):  # a quarter of an hour at 500,000 tokens a minute, ticked each minute
        for _ in range(500):
            old.usage.add(UsageReport(tenant="acme", pool="research", tokens=1_000, work_s=30.0),
                          clock())  # fmt: skip
        await old.tick()
        clock.advance(60)
    # It dies. A new process leads from the next minute, its ledger preloaded with today's
    # tokens (as after a restart): past warn_at, and it forecasts from its first tick.
    new = await reconciler(nc, cfg, clock)
    assert isinstance(new.usage, TokenLedger)
    new.usage.preload({"acme": 8_500_000}, clock())
    for i in range(6):  # tasks waiting: the pool asks for replicas
        await nc.jetstream().publish(cfg.subject("research"), json.dumps({"id": i}).encode())
    (decision,) = await new.tick()
    spend = new.engine.spend.tenants["acme"]
    assert spend.burn() is not None  # the old leader's minutes
    assert spend.per_task() == pytest.approx(1_000)
    # 500,000 tokens a minute for 17 h more is far beyond the 1,500,000 left: paced.
    assert "(budget pace)" in decision.main_reason.detail
