"""The producer publishes tasks whose headers are a megabyte of short lines (its account
takes 1 MiB a task). The stream refuses them (JetStream stores 64 KiB of headers at most),
but every publish reaches the subject's subscribers all the same, among them the daemon's
watch of arrivals, which reads only a task's subject.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from nats.aio.client import Client

from agentdash.nats_accounts import password_variable
from tests.support.accounts import AccountsServer, password
from tests.support.cli import EXAMPLE
from tests.support.daemon import Daemon
from tests.support.raw_publisher import header_block, publish_for

pytestmark = pytest.mark.e2e

FLOOD_S = 8.0
HEADER_LINES = 90_000
"""About 1 MB of headers (`h0: x` ...): under the producer's 1 MiB a task."""


def cpu_seconds(daemon: Daemon) -> float:
    """The CPU the daemon has used (user and system)."""
    with open(f"/proc/{daemon.process.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_tasks_with_a_megabyte_of_header_lines_cost_the_daemon_neither_cpu_nor_its_watch(
    accounts_server: AccountsServer, admin: Client
) -> None:
    """Parsed, each task's headers held the daemon's loop for 0.1 s: 8 s of such a flood
    cost it 2-3 s of CPU, and the server could cut its watch of arrivals as a slow consumer
    (`NATS (tasks): nats: unexpected EOF`), every pool's wake from zero with it. Its watch
    takes no headers, so the server strips them: 0.1 s. `admin` made the queues."""
    daemon = Daemon(EXAMPLE, "--nats-url", accounts_server.url("agentdash"), "--lease-ttl", "10")
    try:
        await daemon.wait_health(lambda h: h["role"] == "leader" and h["status"] == 200)
        before = cpu_seconds(daemon)
        sent = await asyncio.to_thread(
            publish_for, accounts_server.port, "producer-acme",
            password(password_variable("producer-acme")), "agent_tasks_acme.acme-research",
            header_block(HEADER_LINES), FLOOD_S,
        )  # fmt: skip
        used = cpu_seconds(daemon) - before
        health = await daemon.health()
    finally:
        daemon.stop()
    assert sent > 100
    said = [str(line.get("message", "")) for line in daemon.read()]
    assert [line for line in said if line.startswith("NATS (tasks)")] == []
    assert used < 1.0, f"{used:.1f} s of CPU for {sent} tasks"
    assert health is not None
    assert (health["role"], health["status"]) == ("leader", 200)
