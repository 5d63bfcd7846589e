"""Two releases on one NATS, as a rolling upgrade and a rollback have them, on a real JetStream:
what a newer release writes with fields this one lacks, this one takes without them."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from nats.aio.client import Client

from controller.coordination.handover import BUCKET
from controller.coordination.history_docs import key_of
from controller.coordination.spend_handover import BUCKET as SPEND_BUCKET
from controller.coordination.usage_handover import key_of as usage_key
from tests.support import eventually
from tests.support.factories import config, pool
from tests.support.loops import leader, take_over
from tests.support.usage_leader import budgeted, counting

DOWN_300_S = {
    "scale_down": {
        "stabilization_seconds": 300,
        "policies": [{"type": "Percent", "value": 50, "period_seconds": 60}],
    },
}


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
