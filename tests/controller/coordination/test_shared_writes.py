"""Operator changes written to the shared overrides bucket on a real nats-server: each lands,
and none undoes another's. Two operators acting in the same second on two pools, an action
taken while NATS is away, a process whose config lacks a pool the bucket pins."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from typing import Any

import nats.errors
import pytest
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.coordination.audit_trail import AUDIT_STREAM
from controller.coordination.overrides import Change, OverrideStore
from controller.coordination.overrides_bucket import KEY
from controller.coordination.shared import SharedOverrides
from controller.core.events import ActionEvent
from controller.core.model import Overrides, Pin
from tests.support import eventually
from tests.support.factories import config, pool
from tests.support.shared_kv import CFG, audit_records, bucket, join


async def settled(nc: Client, *processes: SharedOverrides) -> dict[str, Any]:
    """The bucket's document once every process has read its newest revision."""
    last = (await (await bucket(nc)).get(KEY)).revision
    await eventually(lambda: all(one.seen >= last for one in processes))
    return dict(json.loads((await (await bucket(nc)).get(KEY)).value))


async def test_two_operators_acting_at_once_on_two_pools_both_get_what_they_asked(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    """Each process wrote back the whole document it held: bob's pause, made before he saw
    alice's pin, undid the pin in the bucket and on both screens, and nothing said so."""
    alice, bob = await join(nc, shared, "alice"), await join(nc, shared, "bob")
    alice._store.pin("research", 2)
    bob._store.pause_tenant("globex")  # neither has seen the other's yet
    await alice.flush()
    await bob.flush()
    written = await settled(nc, alice, bob)

    assert (written["pins"]["research"]["replicas"], written["paused_tenants"]) == (2, ["globex"])
    for one in (alice, bob):
        current = one._store.current()
        assert (current.pins["research"].by, current.paused_tenants) == ("alice", {"globex"})
    # one of them met the other's write and was announced again: a record for each try
    assert {r["action"] for r in await audit_records(nc)} == {"pin", "pause tenant"}


async def test_two_operators_pinning_one_pool_at_once_agree_on_the_later_write(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    alice, bob = await join(nc, shared, "alice"), await join(nc, shared, "bob")
    alice._store.pin("research", 2)
    bob._store.pin("research", 5)
    await alice.flush()
    await bob.flush()
    written = await settled(nc, alice, bob)

    winner = written["pins"]["research"]
    assert (winner["by"], winner["replicas"]) in (("alice", 2), ("bob", 5))
    for one in (alice, bob):
        pin = one._store.current().pins["research"]
        assert (pin.by, pin.replicas) == (winner["by"], winner["replicas"])


async def test_an_action_taken_while_nats_is_away_lands_when_it_is_back(
    nats_server: NatsServer,
    nc: Client,
    shared: list[SharedOverrides],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The write failed at JetStream's 5 s wait and was dropped, after its audit record had
    gone out: the operator's screen said the tenant was paused; no process ever paused it."""
    caplog.set_level(logging.WARNING, "agentdash.shared")
    alice = await join(nc, shared, "alice")
    nats_server.stop()
    alice._store.pause_tenant("globex")

    def first_try_failed() -> bool:  # said (it is tried again), or ended (dropped)
        return "pause tenant globex not written yet" in caplog.text or not alice._writes

    await eventually(first_try_failed, timeout=30)
    assert [e.action for e in alice._store.unwritten()] == ["pause tenant"]  # the screen says
    nats_server.start()
    await alice.flush()
    assert alice._store.unwritten() == []

    written = json.loads((await (await bucket(nc)).get(KEY)).value)
    assert written["paused_tenants"] == ["globex"]
    assert alice._store.current().paused_tenants == {"globex"}
    assert [r["action"] for r in await audit_records(nc)] == ["pause tenant"]  # once


async def test_a_process_whose_config_lacks_a_pool_keeps_its_pin_when_it_writes(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    """A daemon still on last week's config (a rollout half done) dropped the new pool's pin
    from the bucket with any action it took."""
    newer = await join(nc, shared, "alice")
    newer._store.pin("coder", 4)
    await newer.flush()
    older_config = config({"research": pool("acme")})
    older = await join(nc, shared, "bob", fleet=older_config)
    older._store.pin("research", 2)
    await older.flush()
    written = await settled(nc, newer, older)

    assert {p: x["replicas"] for p, x in written["pins"].items()} == {"coder": 4, "research": 2}
    assert set(newer._store.current().pins) == {"coder", "research"}


def test_an_expiry_made_again_on_a_newer_revision_leaves_a_pin_set_since() -> None:
    """The leader ends a pin whose time is up; an operator has pinned the pool again
    meanwhile, and the leader's change is made on that revision: the new pin stays."""
    now = 1_000.0
    store = OverrideStore(CFG, clock=lambda: now)
    store.pin("research", 2, for_seconds=60)
    changes: list[Change] = []

    def told(_: Overrides, __: ActionEvent, change: Change) -> None:
        changes.append(change)

    store.listeners.append(told)
    now = 1_061.0
    assert [e.action for e in store.expire(now)] == ["pin expired"]
    again = Overrides(pins={"research": Pin(5, None, "bob", 1_050.0)})
    assert changes[0](again) == again
    assert changes[0](Overrides(pins={"research": Pin(2, 1_060.0)})).pins == {}


async def test_a_process_that_writes_for_a_long_time_remembers_only_its_newest_writes(
    nc: Client, shared: list[SharedOverrides], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each write left an entry (its audit record and digest) for as long as the process ran:
    a leader ending pins held one more for every pin it ended, never let go. Its own newest
    write is still known as its own: not told, nor audited, as another's."""
    monkeypatch.setattr("controller.coordination.override_writes.OWN_WRITES_KEPT", 5)
    alice, bob = await join(nc, shared, "alice"), await join(nc, shared, "bob")
    for replicas in range(1, 31):
        alice._store.pin("research", replicas)
        await alice.flush()
    written = await settled(nc, alice, bob)

    assert len(alice.own_writes) == 5
    assert written["pins"]["research"]["replicas"] == 30
    assert bob._store.current().pins["research"].by == "alice"
    assert [r["action"] for r in await audit_records(nc)] == ["pin"] * 30


async def test_an_action_taken_after_the_audit_stream_was_deleted_lands_and_is_audited(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    """The audit stream deleted under running processes (a cleanup script, `nats stream rm`),
    the overrides bucket left as it was: an operator's pause is written, its record in the
    stream made again, and it reaches the daemon."""
    daemon, alice = await join(nc, shared, "daemon"), await join(nc, shared, "alice")
    await nc.jetstream().delete_stream(AUDIT_STREAM)
    alice._store.pause_tenant("globex")
    await asyncio.wait_for(alice.flush(), timeout=10)

    await eventually(lambda: daemon._store.current().paused_tenants == {"globex"}, timeout=5)
    assert [r["action"] for r in await audit_records(nc)] == ["pause tenant"]


async def test_what_a_process_holds_is_written_again_to_a_nats_that_lost_its_store(
    nats_server: NatsServer, nc: Client, shared: list[SharedOverrides]
) -> None:
    """A nats-server restarted without its store (an emptyDir, a new volume): the running
    processes kept the controller paused and the pin, and the bucket made again held none
    of them: a standby that took over, or a dashboard started since, resumed the controller."""
    alice = await join(nc, shared, "alice")
    alice._store.pause_controller()
    alice._store.pin("research", 2)
    await alice.flush()
    nats_server.stop()
    shutil.rmtree(nats_server.store_dir / "jetstream")
    nats_server.start()

    async def written_again() -> bool:
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            return json.loads((await (await bucket(nc)).get(KEY)).value)["paused"] is True
        return False

    await eventually(written_again, timeout=20)
    later = await join(nc, shared, "bob")
    assert later._store.current().paused
    assert later._store.current().pins["research"].replicas == 2
