"""worker-acme asks its own consumers for an idle heartbeat every few microseconds. A pull
request may, and nats-server (2.15.1) sets no floor: each such request has the server send
heartbeats as fast as it can until the request expires, an hour if the worker asks. It is
the server's work, not agentdash's: the daemon leads throughout (docs/security.md, "What the
accounts do not bound")."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

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
microsecond the server sends faster, and cuts the worker as a slow consumer in seconds)."""


async def test_heartbeats_asked_every_10_microseconds_cost_the_daemon_no_lease(
    accounts_server: AccountsServer, admin: Client, worker: Client
) -> None:
    """One request on each of acme's two consumers had the server send some 15,000
    heartbeats a second, a quarter of a core of two. `admin` made the queues."""
    daemon = Daemon(EXAMPLE, "--nats-url", accounts_server.url("agentdash"),
                    "--lease-ttl", f"{LEASE_TTL_S:g}")  # fmt: skip
    heartbeats = 0

    async def count(msg: Msg) -> None:
        nonlocal heartbeats
        heartbeats += 1

    await worker.subscribe("_INBOX.spin", cb=count)
    try:
        await daemon.wait_health(lambda h: h["role"] == "leader" and h["status"] == 200)
        ask = {"batch": 1, "expires": int(SPIN_S * 1e9), "idle_heartbeat": EVERY_10_MICROSECONDS}
        for consumer in ("acme-research", "acme-support"):
            subject = f"$JS.API.CONSUMER.MSG.NEXT.AGENT_TASKS.{consumer}"
            await worker.publish(subject, json.dumps(ask).encode(), reply="_INBOX.spin")
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
        assert heartbeats > 1000 * SPIN_S  # and the server did spin, thousands a second
    finally:
        daemon.stop()
