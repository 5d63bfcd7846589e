"""Controllers on one NATS, in one process: one leads, the other observes; what workers
report is believed only so far."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import nats.js.errors
import pytest
import yaml
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from agentdash.opening import RuntimeOptions
from agentdash.runtime import leader_said, start
from agentdash.tui.sample import sample_feed
from controller.coordination.overrides import ReadOnlyError
from controller.core.bad_messages import BadMessages
from controller.core.config import parse_config
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import HELD
from tests.support import eventually
from tests.support.cli import EXAMPLE
from tests.support.dashboard import ForeignLease
from tests.support.shared_kv import audit_records


async def test_an_observer_shows_the_leaders_decisions_and_its_actions_reach_the_leader(
    nats_server: NatsServer, nc: Client, tmp_path: Path
) -> None:
    config = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, config)
    options = RuntimeOptions(nats_server.url, cluster="simulated", lease_ttl=5)
    leader = await start(config, options)
    observer = await start(config, options)
    try:
        await leader.loop.tick()
        await observer.loop.tick()
        assert leader.loop.leading
        assert not observer.loop.leading
        assert observer.loop.snapshot().leader == leader.lease.holder

        for i in range(5):
            await nc.jetstream().publish(
                config.subject("acme-research"), json.dumps({"i": i}).encode()
            )
        await leader.loop.tick()
        told = leader.loop.decisions["acme-research"]
        assert told.desired > 0

        async def follows() -> bool:
            await observer.loop.tick()
            seen = observer.loop.decisions["acme-research"]
            return (
                seen.desired == told.desired and seen.reasons[-1].detail == told.reasons[-1].detail
            )

        await eventually(follows)
        assert observer.loop.actuator.scale_calls == []  # type: ignore[attr-defined]

        observer.loop.store.pin("globex-triage", 3)  # the dashboard's pin, on the observer
        await observer.shared.flush()
        await eventually(lambda: "globex-triage" in leader.loop.overrides.pins)
        decisions = {d.pool: d for d in await leader.loop.tick()}
        assert decisions["globex-triage"].desired == 3
        assert decisions["globex-triage"].main_reason.rule == "pin"
    finally:
        await observer.stop()
        await leader.stop()


async def test_a_held_pools_lag_leaves_metrics_rather_than_reading_as_an_empty_queue(
    nats_server: NatsServer, nc: Client
) -> None:
    """Its consumer gone, a pool's lag is not known: the dashboard's "Queue lag per pool"
    showed 0 for a pool whose stream held 6 tasks. Its series goes, as its oldest task's
    age does; the other pools' stay."""
    config = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, config)
    js = nc.jetstream()
    for i in range(6):
        await js.publish(config.subject("acme-research"), json.dumps({"i": i}).encode())
    queue = config.pools["acme-research"].queue
    await js.delete_consumer(queue.stream, queue.consumer)
    runtime = await start(config, RuntimeOptions(nats_server.url, cluster="simulated"))
    try:
        await runtime.loop.tick()
        assert "acme-research" in runtime.loop.stale

        def shown() -> str:
            return runtime.metrics.render().decode()

        await eventually(lambda: 'agentdash_pool_stale{pool="acme-research"' in shown())
        await eventually(lambda: 'agentdash_pool_lag_tasks{pool="acme-support"} 0.0' in shown())
        assert 'agentdash_pool_lag_tasks{pool="acme-research"}' not in shown()
        assert 'agentdash_pool_oldest_task_age_seconds{pool="acme-research"' not in shown()
    finally:
        await runtime.stop()


async def test_a_dashboard_leads_only_when_asked_and_a_read_only_one_never(
    nats_server: NatsServer, nc: Client
) -> None:
    """No daemon runs: a dashboard without --lead, or a --read-only one, must still never
    become the fleet's actuator (an operator's laptop is not production)."""
    config = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, config)
    for i in range(5):
        await nc.jetstream().publish(config.subject("acme-research"), json.dumps({"i": i}).encode())
    watching = await start(config, RuntimeOptions(nats_server.url, cluster="simulated", lead=False))
    read_only = await start(
        config, RuntimeOptions(nats_server.url, cluster="simulated", lead=True, read_only=True)
    )
    try:
        for _ in range(3):
            for runtime in (watching, read_only):
                await runtime.loop.tick()
                assert not runtime.loop.leading
                snapshot = runtime.loop.snapshot()
                assert snapshot.leaderless  # the header's alarm
                assert {pool.state for pool in snapshot.pools} == {"no leader"}
                assert runtime.loop.actuator.scale_calls == []  # type: ignore[attr-defined]
        with pytest.raises(nats.js.errors.BucketNotFoundError):  # neither wrote a thing
            await nc.jetstream().key_value("agentdash_leader")
        with pytest.raises(ReadOnlyError, match="read-only: pin acme-research refused"):
            read_only.loop.store.pin("acme-research", 3)  # below the screen: the store refuses
        await read_only.shared.flush()
        overrides = await nc.jetstream().key_value("agentdash_overrides")
        with pytest.raises(nats.js.errors.KeyNotFoundError):
            await overrides.get("overrides")
        assert read_only.loop.overrides.pins == {}

        leader = await start(config, RuntimeOptions(nats_server.url, cluster="simulated"))
        try:
            await leader.loop.tick()
            assert leader.loop.leading
            await eventually(lambda: bool(leader.loop.actuator.scale_calls))  # type: ignore[attr-defined]
            await watching.loop.tick()
            assert watching.loop.snapshot().leader == leader.lease.holder
            assert not watching.loop.snapshot().leaderless
        finally:
            await leader.stop()
        await watching.loop.tick()  # the leader let the lease go as it stopped
        assert watching.loop.snapshot().leaderless
    finally:
        await watching.stop()
        await read_only.stop()


async def test_a_dashboard_no_leader_has_led_for_says_so_not_its_own_decisions_as_the_last_seen(
    nats_server: NatsServer, nc: Client
) -> None:
    """No daemon: a pin on the dashboard was said as `no leader: ... the last decision seen:
    pinned warm at 2 by root`, though no leader ever saw it. Once a leader has decided, and
    gone, its last decision is the one said."""
    config = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, config)
    watching = await start(config, RuntimeOptions(nats_server.url, cluster="simulated", lead=False))
    try:
        watching.loop.store.pin("acme-research", 2)
        await watching.shared.flush()
        await watching.loop.tick()
        (row,) = [p for p in watching.loop.snapshot().pools if p.name == "acme-research"]
        assert (row.state, row.state_detail) == (
            "no leader",
            "no controller leads, so nothing scales; no leader's decision seen yet",
        )
        leader = await start(config, RuntimeOptions(nats_server.url, cluster="simulated"))
        try:
            await leader.loop.tick()
            await watching.loop.tick()  # it knows whom it follows

            async def heard() -> bool:
                await leader.loop.tick()
                return "acme-research" in watching.loop.leader_view.decisions

            await eventually(heard)
        finally:
            await leader.stop()
        await watching.loop.tick()
        (row,) = [p for p in watching.loop.snapshot().pools if p.name == "acme-research"]
        assert row.state_detail.startswith(
            "no controller leads, so nothing scales; the last decision seen: pinned"
        )
    finally:
        await watching.stop()


async def test_a_usage_report_over_the_tenants_share_is_held_and_audited_not_spent(
    nats_server: NatsServer, nc: Client
) -> None:
    """One report of 999,999,999 tokens once put globex at 200x its 5,000,000 budget, and
    both its pools at zero until midnight."""
    config = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, config)
    runtime = await start(config, RuntimeOptions(nats_server.url, cluster="simulated"))
    try:
        subject = "agentdash.usage.globex"
        for tokens, task in ((999_999_999, "t-forged"), (4_000, "t-real")):
            report = {"tenant": "globex", "pool": "globex-coder", "tokens": tokens,
                      "work_s": 3.0, "task": task}  # fmt: skip
            await nc.publish(subject, json.dumps(report).encode())

        def spent() -> int:
            return runtime.usage.usage(time.time()).tokens_today["globex"]

        await eventually(lambda: spent() > 0)  # the real one, read after the forged one
        assert spent() == 4_000

        async def held() -> list[dict[str, Any]]:
            return [r for r in await audit_records(nc) if r["action"] == HELD]

        await eventually(held)
        [record] = await held()
        assert (record["who"], record["target"]) == (subject, "globex")
        said = {k: record[k] for k in ("subject", "tenant", "pool", "task", "tokens")}
        assert said == {"subject": subject, "tenant": "globex", "pool": "globex-coder",
                        "task": "t-forged", "tokens": 999_999_999}  # fmt: skip
        assert record["limit"] == 250_000  # 5% of globex's 5,000,000
    finally:
        await runtime.stop()


async def test_decisions_from_anyone_but_the_lease_holder_are_not_shown_and_are_counted() -> None:
    """A well-formed decisions message signed by a process the lease does not name (a forged
    one, or a leader that lost the lease) is dropped and counted, as a malformed one is."""
    feed = await sample_feed()
    loop = feed.loop
    loop.lease = ForeignLease("leader-1")
    await loop.tick()
    bad = BadMessages()
    told = list(loop.decisions.values())
    heard = leader_said(loop, bad)
    heard("evil:1_abc", told, {d.pool: d.current for d in told})
    assert loop.leader_view.heard is None
    assert bad.counts["decisions"] == 1
    heard("leader-1", told, {d.pool: d.current for d in told})
    assert loop.leader_view.heard is not None
    assert bad.counts["decisions"] == 1


async def test_a_deposed_leader_that_cannot_read_the_lease_counts_no_forgery() -> None:
    """A leader cut off from where its lease is kept (a Kubernetes Lease, its API server out
    of reach) still names itself as the last holder it read, while another daemon has rightly
    taken over: the new leader's decisions are no forgery, and are not counted as one (found
    on a real kube-apiserver: the old leader logged `dropped a bad decisions message`)."""
    feed = await sample_feed()
    loop = feed.loop
    lease = Flipping("this-dashboard")  # the holder it last read: itself
    lease.leads = True
    loop.lease = lease
    await loop.tick()
    assert loop.leading
    lease.leads = False  # its renewals get no answer: it no longer leads, knows no other
    await loop.tick()
    assert not loop.leading
    assert loop.leader is None
    bad = BadMessages()
    told = list(loop.decisions.values())
    leader_said(loop, bad)("new-leader:2_abc", told, {d.pool: d.current for d in told})
    assert bad.counts.get("decisions", 0) == 0
    assert loop.leader_view.heard is None  # nor shown: who leads is not known here


async def test_a_leader_that_loses_its_lease_shows_no_older_leaders_view() -> None:
    """It followed leader-1, then led, then lost the lease (NATS away): what leader-1 said
    before is over, and not shown as the fleet's replicas."""
    feed = await sample_feed()
    loop = feed.loop
    lease = Flipping("leader-1")
    loop.lease = lease
    await loop.tick()
    told = list(loop.decisions.values())
    leader_said(loop, BadMessages())("leader-1", told, {d.pool: 0 for d in told})
    assert loop.leader_view.heard is not None
    lease.leads = True
    await loop.tick()
    lease.leads = False
    await loop.tick()
    assert not loop.leading
    assert loop.leader_view.heard is None
    assert loop.leader_view.states == {}


class Flipping(ForeignLease):
    """A lease this process holds while `leads` says so."""

    leads = False

    async def renew(self) -> bool:
        return self.leads


async def test_a_leader_that_stops_gives_keda_back_while_it_still_holds_the_lease(
    nats_server: NatsServer, nc: Client
) -> None:
    """operating.md: a daemon that stops gives its paused ScaledObjects back before it releases
    the lease. After, a new leader could take over a pool while its ScaledObject still read as
    agentdash's pause, and KEDA and agentdash would both let go of it, or both hold it."""
    config = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, config)
    runtime = await start(config, RuntimeOptions(nats_server.url, cluster="simulated"))
    kv = await nc.jetstream().key_value("agentdash_leader")
    holders_at_give_back: list[str] = []

    async def give_back() -> None:  # the Kubernetes actuator's release (the simulated has none)
        holders_at_give_back.append((await kv.get("leader")).value.decode())

    runtime.loop.actuator.release = give_back  # type: ignore[attr-defined]
    try:
        await runtime.loop.tick()
        assert runtime.loop.leading
    finally:
        await runtime.stop()

    assert holders_at_give_back == [runtime.lease.holder]
    with pytest.raises(nats.js.errors.KeyNotFoundError):  # then released, for the next
        await kv.get("leader")
