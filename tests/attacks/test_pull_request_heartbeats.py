"""worker-acme asks its own consumers for an idle heartbeat every few microseconds. A pull
request may, and nats-server (2.15.1) sets no floor: each such request has the server send
heartbeats as fast as it can until the request expires, an hour if the worker asks, to the
request's reply subject: the worker's inbox, or its usage subject, where agentdash reads
them. It is the server's work, and a flood of acme's reports: the daemon leads throughout,
and counts globex's reports (docs/security.md, "What the accounts do not bound")."""

from __future__ import annotations

import asyncio
import json
import time

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from tests.support import eventually
from tests.support.accounts import AccountsServer
from tests.support.cli import EXAMPLE
from tests.support.daemon import Daemon

pytestmark = pytest.mark.e2e

LEASE_TTL_S = 10.0
"""The daemon's default: what a deployment runs with."""
SPIN_S = 2.5 * LEASE_TTL_S
"""Long enough for the lease to run out twice over, were its renewals starved."""
EVERY_10_MICROSECONDS = 10_000
"""A pull request's idle_heartbeat, in nanoseconds: as fast as this test reads them (at one
microsecond the server sent faster, and cut the worker as a slow consumer within 25 s)."""
GLOBEX = {"tenant": "globex", "pool": "globex-coder", "tokens": 7, "work_s": 1.0}


async def spinning_and_still_leading(daemon: Daemon, worker: Client, reply: str) -> None:
    """One pull request on each of acme's consumers, answered on `reply`; the daemon's
    health sampled while the server spins."""
    ask = {"batch": 1, "expires": int(SPIN_S * 1e9), "idle_heartbeat": EVERY_10_MICROSECONDS}
    for consumer in ("acme-research", "acme-support"):
        subject = f"$JS.API.CONSUMER.MSG.NEXT.AGENT_TASKS_ACME.{consumer}"
        await worker.publish(subject, json.dumps(ask).encode(), reply=reply)
    samples: list[tuple[str, int]] = []
    until = time.monotonic() + SPIN_S
    while time.monotonic() < until:
        health = await daemon.health()
        samples.append((health["role"], health["status"]) if health else ("down", 0))
        await asyncio.sleep(0.25)  # a sampling interval, not a wait for something to happen
    said = [str(line.get("message", "")) for line in daemon.read()]
    lost = [line for line in said if line.startswith("lease: ") and line != "lease: leading"]
    assert lost == []
    assert set(samples) == {("leader", 200)}, samples


async def test_heartbeats_asked_every_10_microseconds_cost_the_daemon_no_lease(
    accounts_server: AccountsServer, admin: Client, worker: Client
) -> None:
    """One request on each of acme's two consumers had the server send some 15,000
    heartbeats a second to the worker, a quarter of a core of two. `admin` made the
    queues."""
    daemon = Daemon(EXAMPLE, "--nats-url", accounts_server.url("agentdash"),
                    "--lease-ttl", f"{LEASE_TTL_S:g}")  # fmt: skip
    heartbeats = 0

    async def count(msg: Msg) -> None:
        nonlocal heartbeats
        heartbeats += 1

    await worker.subscribe("_INBOX.spin", cb=count)
    try:
        await daemon.wait_health(lambda h: h["role"] == "leader" and h["status"] == 200)
        await spinning_and_still_leading(daemon, worker, "_INBOX.spin")
        assert heartbeats > 1000 * SPIN_S  # and the server did spin, thousands a second
    finally:
        daemon.stop()


async def test_heartbeats_answered_on_its_usage_subject_cost_only_acmes_reports(
    accounts_server: AccountsServer, admin: Client, worker: Client
) -> None:
    """The reply subject is acme's usage subject: the server itself floods agentdash's
    account there (some 17,000 messages a second, for an 80-byte request). The daemon
    reads it as acme's flood: it leads, and globex's reports count."""
    daemon = Daemon(EXAMPLE, "--nats-url", accounts_server.url("agentdash"),
                    "--lease-ttl", f"{LEASE_TTL_S:g}")  # fmt: skip
    globex = await nats.connect(accounts_server.url("worker-globex"))
    try:
        await daemon.wait_health(lambda h: h["role"] == "leader" and h["status"] == 200)
        await spinning_and_still_leading(daemon, worker, "agentdash.usage.acme")

        async def globex_counted() -> bool:
            await globex.publish("agentdash.usage.globex", json.dumps(GLOBEX).encode())
            await globex.flush()
            return 'agentdash_tenant_tokens_today{tenant="globex"} 0.0' not in (
                await daemon.metrics()
            )

        await eventually(globex_counted, timeout=30, every=0.5)
        metrics = await daemon.metrics()
        flood = 'agentdash_bad_messages_total{source="flood"}'
        [dropped] = [line for line in metrics.splitlines() if line.startswith(flood)]
        assert float(dropped.rsplit(" ", 1)[1]) > 0  # read as acme's flood
    finally:
        await globex.close()
        daemon.stop()
