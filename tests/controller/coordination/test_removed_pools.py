"""Overrides of a pool (or tenant) removed from the config, on a real nats-server: the leader
drops them from the shared bucket once they have outlived a rollout, saying so once; the
valid ones stay. A pin of a pool that no dashboard shows any more stayed in the bucket for
good, and nobody could see or clear it."""

from __future__ import annotations

import json
from typing import Any

from nats.aio.client import Client

from controller.coordination.overrides import ORPHAN_GRACE_S, OverrideStore
from controller.coordination.overrides_bucket import KEY
from controller.coordination.shared import SharedOverrides
from controller.core.bad_messages import BadMessages
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool
from tests.support.shared_kv import CFG, bucket, join

OLD = config({"research": pool("acme"), "coder": pool("globex"), "gone": pool("initech")})
"""Last week's config: a pool and a tenant the config in force (CFG) no longer has."""


async def written(nc: Client) -> dict[str, Any]:
    return dict(json.loads((await (await bucket(nc)).get(KEY)).value))


async def leader(nc: Client, shared: list[SharedOverrides], clock: FakeClock) -> OverrideStore:
    """The overrides as the leader on the config in force holds them."""
    store = OverrideStore(CFG, clock=clock, who=lambda: "daemon")
    one = SharedOverrides(nc, store, CFG, bad=BadMessages())
    await one.start()
    shared.append(one)
    return store


async def test_the_leader_drops_a_removed_pools_overrides_once_they_outlive_a_rollout(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    before = await join(nc, shared, "alice", fleet=OLD)
    before._store.pin("gone", 2)
    before._store.pause_pool("gone", None, None)
    before._store.pause_tenant("initech")
    before._store.pin("research", 3)
    await before.flush()
    clock = FakeClock()
    store = await leader(nc, shared, clock)

    # A rollout may be half done: a dashboard with the new config may have just pinned it.
    assert store.expire(clock()) == []
    clock.advance(ORPHAN_GRACE_S)
    dropped = store.expire(clock())

    assert sorted((e.action, e.target, e.who) for e in dropped) == [
        ("pause dropped", "gone", "agentdash"),
        ("pause tenant dropped", "initech", "agentdash"),
        ("pin dropped", "gone", "agentdash"),
    ]
    assert "2 replicas, pinned by alice" in next(
        e.detail for e in dropped if e.action == "pin dropped"
    )
    assert store.expire(clock() + 1) == []  # said once
    await shared[-1].flush()
    document = await written(nc)
    assert {p: x["replicas"] for p, x in document["pins"].items()} == {"research": 3}
    assert (document["paused_pools"], document["paused_tenants"]) == ({}, [])
    assert store.current().pins["research"].replicas == 3  # a valid one untouched


async def test_a_removed_pool_pinned_again_meanwhile_waits_its_own_grace(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    """Pinned again from a dashboard with a newer config: that is a new pin, not the old
    one the leader has waited out."""
    before = await join(nc, shared, "alice", fleet=OLD)
    before._store.pin("gone", 2)
    await before.flush()
    clock = FakeClock()
    store = await leader(nc, shared, clock)
    clock.advance(ORPHAN_GRACE_S - 1)
    before._store.pin("gone", 5)
    await before.flush()
    seen = (await (await bucket(nc)).get(KEY)).revision
    await eventually(lambda: shared[-1].seen >= seen)

    clock.advance(1)
    assert store.expire(clock()) == []
    clock.advance(ORPHAN_GRACE_S)
    assert [e.action for e in store.expire(clock())] == ["pin dropped"]
