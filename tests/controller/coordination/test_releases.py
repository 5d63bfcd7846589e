"""Two releases on one NATS, as a rolling upgrade and a rollback have them, on a real JetStream:
what this release writes, the release before it reads (that one refuses a document with any
field it does not know); what a newer release writes with fields this one lacks (a handover
document, the overrides), this one takes without them, and keeps in the overrides it writes;
and a takeover says in a line what it took over."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import pytest
from nats.aio.client import Client

from controller.coordination.audit_trail import AuditTrail
from controller.coordination.handover import BUCKET, HistoryHandover
from controller.coordination.history_docs import key_of
from controller.coordination.overrides_bucket import BUCKET as SHARED_BUCKET
from controller.coordination.overrides_bucket import KEY
from controller.coordination.shared import SharedOverrides
from controller.coordination.spend_handover import BUCKET as SPEND_BUCKET
from controller.coordination.spend_handover import SpendHandover
from controller.coordination.usage_handover import key_of as usage_key
from controller.core.config import Config
from controller.core.engine import Engine
from controller.core.events import ActionEvent
from controller.core.keepalive import KeepAlive, Pace
from controller.runtime.succession import Succession
from tests.support import eventually
from tests.support.factories import config, pool
from tests.support.loops import Loop, leader, take_over
from tests.support.shared_kv import bucket, join
from tests.support.usage_leader import budgeted, counting

FORMAT_1 = {
    "pool": {"v", "at", "live", "busy_at", "lows", "highs", "steps", "keep"},
    "keep": {"value", "latest", "levels", "held", "heads", "taken"},
    "level": {"replicas", "in_use", "last_used", "peak", "gaps"},
}
"""The fields of a pool's history that the release before this one (agentdash 0.1.0 as of
2026-11-26) reads. It refuses a document with any other field, and with it the pool's windows
and learned keep-alive: rolled back to, it let every pool go as a new process would."""

DOWN_300_S = {
    "scale_down": {
        "stabilization_seconds": 300,
        "policies": [{"type": "Percent", "value": 50, "period_seconds": 60}],
    },
}


def research(keep: KeepAlive | None) -> KeepAlive:
    assert keep is not None
    return keep


async def priced_leader(nc: Client, cfg: Config) -> Loop:
    """A leader whose pool let a level of 12 go at one price and then took up another at a
    lower one (so its released levels keep the price they were planned at), saved as it went."""
    old, saver = await leader(nc, cfg)
    paced = [(0.0, 0, None), (1.0, 12, Pace(task_s=2.0, rate=12.0)), (60.0, 0, None)]
    paced.append((100.0, 2, Pace(task_s=2.0, rate=1.0)))
    for t, value, pace in paced:
        old.history.record_pool("research", value, value, t, pace)
        research(old.history.pools["research"].keep).hold(t + 0.5, value, value)
        await saver.save(old.history, t + 0.5)
    return old


async def test_the_history_a_leader_writes_is_one_the_release_before_it_reads(
    nc: Client,
) -> None:
    """A rollback's leader takes every pool's windows and keep-alive; the prices of released
    levels, which its documents have no room for, travel beside them to this release's."""
    cfg = config(
        {"research": pool("acme", max_replicas=20, target_lag_per_replica=2, concurrency=4)}
    )
    old = await priced_leader(nc, cfg)
    learned = research(old.history.pools["research"].keep)
    assert any(level.share is not None for level in learned.levels)  # a price to carry

    kv = await nc.jetstream().key_value(BUCKET)
    doc = json.loads((await kv.get(key_of("research"))).value or b"")
    assert set(doc) <= FORMAT_1["pool"]
    assert set(doc["keep"]) <= FORMAT_1["keep"]
    assert doc["keep"]["levels"]
    for level in doc["keep"]["levels"]:
        assert set(level) <= FORMAT_1["level"]

    successor, restored = await take_over(nc, cfg, old, 105.0)
    assert restored == 1
    taken = research(successor.history.pools["research"].keep)
    assert taken.plans() == learned.plans()  # priced as the old leader priced them


async def test_prices_written_before_an_older_release_wrote_the_pool_are_not_taken(
    nc: Client,
) -> None:
    """Rolled back, an older release writes a pool's history again and leaves its shares key
    as it was: at the next upgrade those prices are of levels it did not see, and the levels
    are priced as the pool's share of now (as that release left them), not by them."""
    cfg = config(
        {"research": pool("acme", max_replicas=20, target_lag_per_replica=2, concurrency=4)}
    )
    old = await priced_leader(nc, cfg)
    kv = await nc.jetstream().key_value(BUCKET)
    rewritten = json.loads((await kv.get(key_of("research"))).value or b"")
    rewritten["at"] += 1.0  # written since by a release that writes no shares
    await kv.put(key_of("research"), json.dumps(rewritten).encode())

    successor, restored = await take_over(nc, cfg, old, 105.0)
    assert restored == 1
    taken = research(successor.history.pools["research"].keep)
    assert taken.levels
    assert [level.share for level in taken.levels] == [None] * len(taken.levels)


async def test_a_pool_a_newer_release_wrote_with_fields_this_one_lacks_holds_its_window(
    nc: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Rolled back from a newer release, this one takes each pool's history without what it
    does not know, and says so once: refused, the pool went from 8 to 4 inside its window."""
    cfg = config({"research": pool("acme", max_replicas=10, behavior=DOWN_300_S)})
    old, saver = await leader(nc, cfg)
    for t in range(0, 100, 5):
        old.tick(float(t), research=8 if t < 60 else 0)
        await saver.save(old.history, float(t))
    kv = await nc.jetstream().key_value(BUCKET)
    newer: dict[str, Any] = json.loads((await kv.get(key_of("research"))).value or b"")
    newer["bloom"] = {"rate": 0.5}
    newer["keep"]["flavour"] = "sweet"
    newer["keep"]["levels"] = [level | {"bloom": [1, 2]} for level in newer["keep"]["levels"]]
    await kv.put(key_of("research"), json.dumps(newer).encode())
    caplog.set_level(logging.INFO, logger="agentdash.handover")

    successor, restored = await take_over(nc, cfg, old, 110.0)

    assert restored == 1
    held = successor.tick(110.0)
    assert (held.desired, held.main_reason.rule) == (8, "stabilization")
    said = [r for r in caplog.records if r.name == "agentdash.handover"]
    assert [r.levelno for r in said] == [logging.INFO]
    assert said[0].getMessage() == (
        "history: 1 value(s) in agentdash_history have fields this agentdash does not know, "
        "written by a newer agentdash: taken without them: "
        "pool.research (bloom, keep.flavour, keep.levels.bloom)"
    )


def report(tokens: int) -> bytes:
    body = {"tenant": "acme", "pool": "research", "tokens": tokens, "work_s": 3.0}
    return json.dumps(body).encode()


async def test_tokens_today_a_newer_release_wrote_with_more_fields_keep_the_cap_spent(
    nc: Client,
) -> None:
    cfg = budgeted()
    usage, handover = await counting(nc, cfg)
    await handover.restore(time.time())
    for _ in range(22):  # 1,540,000 tokens: over the hard cap of 1,500,000
        await nc.publish("agentdash.usage.acme", report(70_000))
    await nc.flush()
    await eventually(lambda: usage.usage(time.time()).tokens_today["acme"] == 1_540_000)
    await handover.save(time.time())
    kv = await nc.jetstream().key_value(SPEND_BUCKET)
    newer = json.loads((await kv.get(usage_key("acme"))).value or b"") | {"by_model": {"x": 1}}
    await kv.put(usage_key("acme"), json.dumps(newer).encode())

    successor, successor_handover = await counting(nc, cfg)
    assert await successor_handover.restore(time.time()) == 1
    assert successor.usage(time.time()).tokens_today["acme"] == 1_540_000


async def test_a_takeover_says_what_it_took_over_and_whose_tokens_today_it_found_none(
    nc: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """The bucket as the release before this one leaves it: a pool's history, and no count
    of tokens today (it wrote none). The leader that takes over says so: its hard caps count
    only the reports it has read since it started."""
    cfg = budgeted()
    old, saver = await leader(nc, cfg)
    old.tick(0.0, research=4)
    await saver.save(old.history, 0.0)
    engine = Engine(cfg)
    _, usage_handover = await counting(nc, cfg)
    history, spend = HistoryHandover(nc, cfg), SpendHandover(nc, cfg)
    for keeper in (history, spend):
        await keeper.start()
    succession = Succession(
        engine, handover=history, spend_handover=spend, usage_handover=usage_handover
    )
    caplog.set_level(logging.INFO, logger="agentdash.handover")

    await succession.take_over(True, 5.0)
    await succession.take_over(True, 6.0)  # leading on: nothing more to take, or to say

    said = [r.getMessage() for r in caplog.records if r.name == "agentdash.handover"]
    assert said == [
        "took over from NATS KV the history of 1 pool, the tokens today of 0 tenants, the "
        "spend forecast of 0 tenants; no count of tokens today for acme: counted from the "
        "reports this process has read alone"
    ]
    assert "research" in engine.history.pools


async def newer_write(nc: Client, kv: Any) -> int:
    """The overrides as a newer release writes them: a field this one lacks (after the others,
    at the top), announced first by an audit record naming their digest; the revision."""
    body = {
        "pins": {"research": {"replicas": 3, "until": None, "by": "bob", "at": 1.0}},
        "paused_tenants": [], "paused": False, "dry_run": False, "paused_pools": {},
        "paused_tiers": ["gold"],
    }  # fmt: skip
    digest = hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()
    event = ActionEvent(time.time(), "bob", "pause tier", "gold", "")
    seq = await AuditTrail(nc.jetstream(), SHARED_BUCKET).announce(event, digest, once=digest)
    return int(await kv.put(KEY, json.dumps(body | {"audit": seq}).encode()))


async def test_overrides_a_newer_release_wrote_with_a_field_this_one_lacks_are_kept(
    nc: Client, shared: list[SharedOverrides], caplog: pytest.LogCaptureFixture
) -> None:
    """A newer release's document is applied as agentdash's, and the write made here on it
    keeps the field this release lacks: the newer release's action is not undone. Refused,
    the pin stayed unapplied here, and the next write put back the document before it."""
    caplog.set_level(logging.INFO, logger="agentdash.shared")
    here = await join(nc, shared)
    kv = await bucket(nc)
    revision = await newer_write(nc, kv)
    await eventually(lambda: "research" in here._store.current().pins)

    here._store.pin("coder", 1)
    await here.flush()

    written = json.loads((await kv.get(KEY)).value or b"")
    assert (sorted(written["pins"]), written["paused_tiers"]) == (["coder", "research"], ["gold"])
    assert here.bad.counts["overrides"] == 0
    said = [r.getMessage() for r in caplog.records if r.name == "agentdash.shared"]
    assert said == [  # once: the write made here, read back, has the field too
        f"overrides revision {revision} has fields this agentdash does not know, written by a "
        "newer agentdash: applied without them, and kept in what this process writes: "
        "paused_tiers"
    ]  # and no "not written by agentdash": the newer release's audit record names it


async def test_a_field_this_release_lacks_in_overrides_written_by_hand_is_refused(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    """`nats kv put` with a typo (or a JetStream answer stored there) names no audit record:
    held to the fields, as a file is, and skipped, the last valid overrides in force."""
    here = await join(nc, shared)
    kv = await bucket(nc)
    await kv.put(KEY, b'{"pins": {"research": {"replicas": 2}}}')
    await eventually(lambda: "research" in here._store.current().pins)
    await kv.put(KEY, b'{"pins": {}, "pasued": true}')
    await eventually(lambda: here.bad.counts["overrides"] == 1)
    assert here._store.current().pins["research"].replicas == 2
