"""A pool pause crosses processes as pins do: through the NATS KV bucket, audited, validated
(a real nats-server; each process with its own connection and store)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.coordination.audit_trail import FOREIGN
from controller.coordination.overrides import OverrideStore
from controller.coordination.overrides_bucket import KEY
from controller.coordination.shared import SharedOverrides
from controller.core.bad_messages import BadMessages
from controller.core.model import PoolPause
from tests.support import FakeClock, eventually
from tests.support.shared_kv import CFG, audit_records, bucket

START = time.time()


@pytest.fixture
async def processes(nats_server: NatsServer) -> AsyncIterator[list[SharedOverrides]]:
    made: list[SharedOverrides] = []
    clients: list[Client] = []

    for who in ("alice", "bob"):
        client = await nats.connect(nats_server.url)
        clients.append(client)
        # Clocks that agree with the server's: a pause ends its span after NATS stored it.
        store = OverrideStore(CFG, clock=FakeClock(START), who=lambda who=who: who)
        one = SharedOverrides(client, store, CFG, bad=BadMessages())
        await one.start()
        made.append(one)
    yield made
    for one in made:
        await one.stop()
    for client in clients:
        await client.close()


async def test_a_pool_paused_in_one_process_is_paused_in_the_other_and_audited(
    nc: Client, processes: list[SharedOverrides]
) -> None:
    alice, bob = processes
    alice._store.pause_pool("research", 2, 60)
    await alice.flush()
    await eventually(lambda: "research" in bob._store.current().paused_pools)
    pause = bob._store.current().paused_pools["research"]
    assert (pause.replicas, pause.by, pause.at) == (2, "alice", START)
    assert pause.until is not None
    assert time.time() + 55 < pause.until < time.time() + 61
    (record,) = await audit_records(nc)
    assert (record["who"], record["action"], record["target"], record["detail"]) == (
        "alice", "pause pool", "research", "set to 2 for 1 min")  # fmt: skip

    # Only the leader ends it when its time is up; the others learn it from the bucket.
    (ended,) = alice._store.expire(time.time() + 61)
    await alice.flush()
    await eventually(lambda: bob._store.current().paused_pools == {})
    records = await audit_records(nc)
    assert (records[-1]["who"], records[-1]["action"]) == ("agentdash", "pause expired")
    assert ended.action == "pause expired"


async def test_a_bad_pool_pause_written_to_the_bucket_is_counted_and_not_believed(
    nc: Client, processes: list[SharedOverrides]
) -> None:
    alice, bob = processes
    kv = await bucket(nc)
    for bad in ({"research": {"replicas": -3}}, {"research": {"until": 1e999}}, ["research"]):
        await kv.put(KEY, json.dumps({"paused_pools": bad}).encode())
    await eventually(lambda: bob.bad.counts.get("overrides", 0) == 3)
    assert bob._store.current().paused_pools == {}

    await kv.put(KEY, json.dumps({"paused_pools": {"research": {}}}).encode())  # a script
    await eventually(lambda: "research" in alice._store.current().paused_pools)
    await alice.flush()
    await bob.flush()
    assert alice._store.current().paused_pools["research"] == PoolPause()
    (record,) = [r for r in await audit_records(nc) if r["action"] == FOREIGN]
    assert record["detail"] == "applied: pause pool research"
