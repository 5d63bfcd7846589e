"""Forged writes to the overrides bucket on a real nats-server: garbage is counted and
ignored (the watcher and a starting daemon go on), a valid write made by a raw NATS client is
applied, logged and audited once, and agentdash's own writes are never taken for foreign."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from typing import Any

import nats.errors
import pytest
import yaml
from nats.aio.client import Client
from nats.js.errors import NoKeysError
from nats.js.kv import KeyValue

from agentdash.nats_server import NatsServer
from agentdash.opening import RuntimeOptions
from agentdash.runtime import start
from controller.coordination.audit_trail import (
    AUDIT_STREAM,
    FOREIGN,
    SKIPPED,
    UNKNOWN,
    whereabouts,
)
from controller.coordination.overrides_bucket import BUCKET, HISTORY, KEY
from controller.coordination.shared import SharedOverrides
from controller.core.config import parse_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually
from tests.support.cli import EXAMPLE
from tests.support.shared_kv import audit_records, bucket, join

PIN = {"pins": {"research": {"replicas": 3}}, "paused_tenants": ["globex"]}


async def foreign(nc: Client) -> list[dict[str, Any]]:
    return [r for r in await audit_records(nc) if r["action"] == FOREIGN]


async def test_garbage_and_invalid_utf8_are_counted_and_the_watcher_goes_on(
    nc: Client, shared: list[SharedOverrides], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    one = await join(nc, shared)
    kv = await bucket(nc)
    forged = [
        await kv.put(KEY, b"\xff\xfe\x00 not UTF-8"),  # once killed the watcher, silently
        await kv.put(KEY, b'{"pins": {"research": {"replicas": 1e999}}}'),
        await kv.put(KEY, b"[" * 100_000),
        # valid JSON, but no reason can say until when: every controller stopped on it
        await kv.put(KEY, b'{"pins": {"research": {"replicas": 1, "until": 1e308}}}'),
    ]
    await eventually(lambda: one.bad.counts["overrides"] == 4)
    assert one._store.current().pins == {}  # nothing believed
    await one.flush()
    skipped = [r for r in await audit_records(nc) if r["action"] == SKIPPED]
    assert [(r["who"], r["revision"]) for r in skipped] == [(UNKNOWN, n) for n in forged]
    assert "expected UTF-8 text" in skipped[0]["detail"]

    await kv.put(KEY, json.dumps(PIN).encode())  # still watching: a valid write is taken
    await eventually(lambda: "research" in one._store.current().pins)
    assert one._store.current().paused_tenants == {"globex"}
    lines = [r.getMessage() for r in caplog.records if r.name == "agentdash.bad_messages"]
    assert len(lines) == 1
    assert "expected UTF-8 text" in lines[0]


async def test_a_daemon_starts_over_garbage_in_the_bucket(
    nats_server: NatsServer, nc: Client
) -> None:
    kv = await bucket(nc)
    await kv.put(KEY, b"\x00\x01 garbage")  # once made every new daemon exit 2
    example = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, example)
    runtime = await start(example, RuntimeOptions(nats_server.url, cluster="simulated"))
    try:
        await runtime.loop.tick()
        assert runtime.loop.overrides.pins == {}
        exposed = runtime.metrics.render().decode()
        assert 'agentdash_bad_messages_total{source="overrides"} 1.0' in exposed
    finally:
        await runtime.stop()


CONSUMER_INFO = b'{"type":"io.nats.jetstream.api.v1.consumer_info_response","stream_name":"X"}'
"""What a worker once had the server store as the overrides: an answer, sent to the key as
the reply subject of its request."""


async def test_a_restart_over_forged_overrides_keeps_the_last_valid_pins_and_pauses(
    nats_server: NatsServer, nc: Client
) -> None:
    example = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, example)
    options = RuntimeOptions(nats_server.url, cluster="simulated")
    first = await start(example, options)
    try:
        first.loop.store.pin("globex-triage", 2)
        first.loop.store.pause_tenant("initech")  # a runaway tenant, paused
        await first.shared.flush()
    finally:
        await first.stop()
    kv = await bucket(nc)
    forged = [await kv.put(KEY, CONSUMER_INFO) for _ in range(3)]  # the attack, three times
    again = await start(example, options)
    try:
        overrides = again.loop.overrides
        assert overrides.pins["globex-triage"].replicas == 2
        assert overrides.paused_tenants == {"initech"}  # still paused: it does not scale
        await again.shared.flush()
        skipped = [r for r in await audit_records(nc) if r["action"] == SKIPPED]
        assert [(r["who"], r["revision"]) for r in skipped] == [(UNKNOWN, forged[-1])]
        assert f"revisions {forged[0]} to {forged[-1]} (3) not valid" in skipped[0]["detail"]
        assert "pin globex-triage=2, pause tenant initech" in skipped[0]["detail"]
    finally:
        await again.stop()


async def test_after_nats_lost_its_store_an_operators_pin_reaches_the_running_daemon(
    nats_server: NatsServer, nc: Client
) -> None:
    """A nats-server restarted without its store (an emptyDir, a new volume): the running
    daemon's watcher followed a bucket that was gone, and a pin made afterwards from a
    dashboard (which made the bucket again) never reached it until it restarted."""
    example = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, example)
    daemon = await start(example, RuntimeOptions(nats_server.url, cluster="simulated"))
    try:
        daemon.loop.store.pin("globex-triage", 2)
        await daemon.shared.flush()
        nats_server.stop()
        shutil.rmtree(nats_server.store_dir / "jetstream")
        nats_server.start()

        async def queues_made() -> bool:  # agentdash queues --apply, once JetStream answers
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await ensure_queues(nc, example)
                return True
            return False

        await eventually(queues_made, timeout=30)
        options = RuntimeOptions(nats_server.url, cluster="simulated", lead=False)
        dashboard = await start(example, options)
        try:
            dashboard.loop.store.pin("globex-triage", 3)
            await dashboard.shared.flush()

            def pinned_at_3() -> bool:
                pin = daemon.loop.store.current().pins.get("globex-triage")
                return pin is not None and pin.replicas == 3

            await eventually(pinned_at_3, timeout=15)
        finally:
            await dashboard.stop()
    finally:
        await daemon.stop()


async def test_after_nats_restarts_an_operators_pin_reaches_the_running_daemon_at_once(
    nats_server: NatsServer, nc: Client, shared: list[SharedOverrides]
) -> None:
    """A nats-server restarted over its store: the daemon's watcher waited on a consumer that
    had gone with the server until nats.py noticed, some 15 s on; a pin made meanwhile from a
    dashboard was in the bucket, and shown there, and the leader did not scale for it."""
    example = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, example)
    daemon = await start(example, RuntimeOptions(nats_server.url, cluster="simulated"))
    try:
        checked = daemon.shared._checking
        nats_server.stop()
        nats_server.start()

        def bucket_checked() -> bool:  # after the reconnection (see SharedOverrides.reconnected)
            check = daemon.shared._checking
            return check is not None and check is not checked and check.done()

        await eventually(bucket_checked, timeout=30)
        dashboard = await join(nc, shared, "alice", fleet=example)
        dashboard._store.pin("globex-triage", 3)
        await dashboard.flush()
        await eventually(lambda: "globex-triage" in daemon.loop.store.current().pins, timeout=5)
    finally:
        await daemon.stop()


async def test_a_watcher_whose_consumer_went_while_connected_gets_an_operators_pin_at_once(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    """The watcher's consumer gone with no reconnection here (a clustered stream's server
    restarted, or the consumer deleted): nats.py made it again only once two idle heartbeats
    had gone missing, and an operator's pin reached the daemon 17-19 s late."""
    daemon = await join(nc, shared, "daemon")
    dashboard = await join(nc, shared, "alice")
    jsm = nc.jsm()
    for consumer in await jsm.consumers_info(f"KV_{BUCKET}"):
        await jsm.delete_consumer(f"KV_{BUCKET}", consumer.name)
    dashboard._store.pin("research", 3)
    await dashboard.flush()
    await eventually(lambda: "research" in daemon._store.current().pins, timeout=8)


async def test_a_start_whose_history_read_comes_back_empty_reads_it_again(
    nc: Client, shared: list[SharedOverrides], monkeypatch: pytest.MonkeyPatch
) -> None:
    """nats.py's history() once answered "no keys" to a CI daemon's start, on a loaded
    machine, with five revisions in the bucket: it started with no pins and no pauses."""
    await join(nc, shared, who="alice")
    shared[0]._store.pin("research", 3)
    await shared[0].flush()
    real = KeyValue.history
    answers: list[str] = []

    async def racing(self: KeyValue, key: str) -> list[KeyValue.Entry]:
        if not answers:
            answers.append("empty")
            raise NoKeysError  # what the race answers
        answers.append("whole")
        return await real(self, key)

    monkeypatch.setattr(KeyValue, "history", racing)
    again = await join(nc, shared, who="bob")
    assert answers == ["empty", "whole"]
    assert again._store.current().pins["research"].replicas == 3


async def test_a_bucket_an_older_agentdash_made_keeps_more_revisions_once_started(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    await nc.jetstream().create_key_value(bucket=BUCKET, history=10)
    await join(nc, shared)
    info = await nc.jetstream().stream_info(f"KV_{BUCKET}")
    assert info.config.max_msgs_per_subject == HISTORY


async def test_a_foreign_write_is_applied_logged_and_audited_once(
    nc: Client, shared: list[SharedOverrides], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "agentdash.shared")
    one, two = await join(nc, shared), await join(nc, shared)
    kv = await bucket(nc)
    revision = await kv.put(KEY, json.dumps(PIN).encode())  # `nats kv put`, say
    for each in (one, two):
        await eventually(lambda each=each: "research" in each._store.current().pins)  # type: ignore[misc]
        await each.flush()
    records = await foreign(nc)
    assert len(records) == 1  # two processes saw it; the audit has it once
    assert records[0]["revision"] == revision
    assert "pin research=3" in records[0]["detail"]
    assert "pause tenant globex" in records[0]["detail"]
    warned = [
        r.getMessage() for r in caplog.records if "not written by agentdash" in r.getMessage()
    ]
    assert len(warned) == 2  # each process says what it applied

    three = await join(nc, shared)  # a process starting later: already audited
    await three.flush()
    assert three._store.current().pins["research"].replicas == 3
    assert len(await foreign(nc)) == 1


async def test_a_pin_of_a_pool_this_config_lacks_is_said_to_be_ignored(
    nc: Client, shared: list[SharedOverrides], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "agentdash.shared")
    one = await join(nc, shared)
    kv = await bucket(nc)
    typo = {"pins": {"reserch": {"replicas": 9}, "research": {"replicas": 3}}}
    await kv.put(KEY, json.dumps(typo).encode())
    await eventually(lambda: "research" in one._store.current().pins)
    await one.flush()
    assert "reserch" not in one._store.current().pins
    ignored = [r.getMessage() for r in caplog.records if "ignored: pin reserch" in r.getMessage()]
    assert len(ignored) == 1
    assert "does not have" in ignored[0]
    [record] = await foreign(nc)
    assert record["detail"].endswith("; ignored: pin reserch")
    # Revisions that still name it (every write keeps what its config lacks) say it once.
    two = await join(nc, shared)
    two._store.pin("research", 4)
    await eventually(lambda: one._store.current().pins["research"].replicas == 4)
    await one.flush()
    ignored = [r.getMessage() for r in caplog.records if "ignored: pin reserch" in r.getMessage()]
    assert len(ignored) == 2  # once a process, not again at revision 2


async def test_a_foreign_write_while_no_agentdash_runs_is_audited_at_start(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    kv = await bucket(nc)
    await nc.jetstream().add_stream(name=AUDIT_STREAM, subjects=["agentdash.audit"])
    revision = await kv.put(KEY, json.dumps(PIN).encode())
    one = await join(nc, shared)
    await one.flush()
    assert [r["revision"] for r in await foreign(nc)] == [revision]
    assert one._store.current().pins["research"].replicas == 3


async def test_agentdash_writes_are_its_own_and_a_copy_with_edits_is_foreign(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    one, two = await join(nc, shared, "alice"), await join(nc, shared, "bob")
    one._store.pin("research", 2)
    await one.flush()
    await eventually(lambda: "research" in two._store.current().pins)
    two._store.pause_tenant("acme")
    await two.flush()
    await eventually(lambda: one._store.current().paused_tenants == {"acme"})
    records = await audit_records(nc)
    assert [(r["who"], r["action"]) for r in records] == [("alice", "pin"), ("bob", "pause tenant")]

    kv = await bucket(nc)
    document = json.loads((await kv.get(KEY)).value)
    assert document["audit"] == 2  # the write names the record that announced it
    document["pins"]["research"]["replicas"] = 9  # a copy with its "audit" kept, edited
    revision = await kv.put(KEY, json.dumps(document).encode())
    await eventually(lambda: one._store.current().pins["research"].replicas == 9)
    await one.flush()
    await two.flush()
    assert [r["revision"] for r in await foreign(nc)] == [revision]


async def test_each_action_another_process_took_is_told_once_with_who_and_when(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    """What the leader logs: the others' actions and foreign writes, never its own."""
    one, two = await join(nc, shared, "alice"), await join(nc, shared, "bob")
    told: list[tuple[dict[str, Any], str]] = []
    one.on_action = lambda event, origin, _: told.append((event.as_dict(), origin))
    mine = one._store.pin("research", 2)
    await one.flush()
    theirs = two._store.pause_tenant("acme")
    await two.flush()
    await eventually(lambda: len(told) == 1)
    assert told == [(theirs.as_dict(), whereabouts())]  # bob's, as he took it; not alice's own

    kv = await bucket(nc)
    await kv.put(KEY, json.dumps(PIN).encode())  # `nats kv put`
    await eventually(lambda: len(told) == 2)
    foreign_write, origin = told[1]
    assert (foreign_write["who"], foreign_write["action"], origin) == (
        "unknown writer",
        FOREIGN,
        "nats kv",
    )
    assert "pin research=3" in str(foreign_write["detail"])
    assert mine.as_dict() not in [event for event, _ in told]


async def test_a_process_starting_is_told_the_actions_above_the_leaders_logged_mark(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    """Written before it ran: told (a leader logs them), unless a leader marked them logged."""
    one = await join(nc, shared, "alice")
    pin = one._store.pin("research", 2)
    await one.flush()
    pause = one._store.pause_tenant("acme")
    await one.flush()
    two = await join(nc, shared, "bob")
    assert [(event.as_dict(), origin) for event, origin, _ in two.found] == [
        (pin.as_dict(), whereabouts()), (pause.as_dict(), whereabouts()),
    ]  # fmt: skip
    two.logged_through(two.found[0][2])  # a leader logged the pin, not yet the pause
    await two.flush()
    three = await join(nc, shared, "carol")
    assert [event.as_dict() for event, _, _ in three.found] == [pause.as_dict()]
    kv = await bucket(nc)
    await kv.put("logged", b'{"v": 1, "revision": "all"}')  # no mark: none hidden
    four = await join(nc, shared, "dave")
    assert len(four.found) == 2
    # A mark past every revision of the overrides is no leader's (one marks what it read):
    # written by hand, it would hide every action taken while no leader ran.
    await kv.put("logged", b'{"v": 1, "revision": 1000000000000}')
    five = await join(nc, shared, "erin")
    assert len(five.found) == 2


async def test_a_process_own_writes_coming_back_never_undo_its_later_ones(
    nc: Client, shared: list[SharedOverrides]
) -> None:
    """A dashboard that resumed the controller and turned dry-run on, in quick succession,
    said `running` once its first write came back from the bucket (the dry-run was lost)."""
    one = await join(nc, shared, "alice")
    kv = await bucket(nc)
    for _ in range(3):
        one._store.pause_controller()
        one._store.pause_controller(False)
        one._store.set_dry_run(True)
        one._store.set_dry_run(False)
        one._store.set_dry_run(True)
        await one.flush()
        last = (await kv.get(KEY)).revision
        await eventually(lambda last=last: one.seen >= last)  # type: ignore[misc]
        assert (one._store.current().dry_run, one._store.current().paused) == (True, False)
        written = json.loads((await kv.get(KEY)).value)
        assert (written["dry_run"], written["paused"]) == (True, False)  # in the order made
