"""worker-acme sends its own consumer pull requests as fast as three connections go (each
asks for one task, answered at once, to the worker's inbox). Pull requests are the server's
work for acme, not JetStream's API: the daemon's reads of every pool, globex's among them,
stay on time, and it leads throughout."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest
from nats.aio.client import Client

from tests.support import eventually
from tests.support.accounts import AccountsServer
from tests.support.daemon import Daemon

pytestmark = pytest.mark.e2e

FLOOD_S = 10.0
NEXT = "$JS.API.CONSUMER.MSG.NEXT.AGENT_TASKS_ACME.acme-research"
NEXT_ONE = b'{"batch": 1, "no_wait": true}'


async def pull_for(worker: Client, seconds: float) -> int:
    sent, until = 0, time.monotonic() + seconds
    inbox = worker.new_inbox()
    while time.monotonic() < until:
        for _ in range(1000):
            await worker.publish(NEXT, NEXT_ONE, reply=inbox)
        sent += 1000
        await asyncio.sleep(0)  # the worker's own loop reads and writes meanwhile
    await worker.flush(timeout=60)
    return sent


async def test_a_flood_of_pull_requests_keeps_every_pools_reads_on_time(
    accounts_server: AccountsServer, daemon: Daemon
) -> None:
    workers = [await nats.connect(accounts_server.url("worker-acme")) for _ in range(3)]
    producer = await nats.connect(accounts_server.url("producer-globex"))
    try:
        flooding = [asyncio.create_task(pull_for(w, FLOOD_S)) for w in workers]
        await producer.publish("agent_tasks_globex.globex-coder", b"{}")
        await producer.flush()

        async def globex_read() -> bool:
            return 'agentdash_pool_lag_tasks{pool="globex-coder"} 1.0' in await daemon.metrics()

        await eventually(globex_read, timeout=30, every=0.2)
        samples = []
        while not all(task.done() for task in flooding):
            health = await daemon.health()
            said = (health["role"], health["status"], health["problems"]) if health else None
            samples.append(said or ("down", 0, {}))
            await asyncio.sleep(0.25)  # a sampling interval, not a wait for something to happen
        sent = sum([await task for task in flooding])
    finally:
        for client in [*workers, producer]:
            await client.close()
    assert sent > 100_000
    assert {(role, status) for role, status, _ in samples} == {("leader", 200)}, samples
    assert [problems for _, _, problems in samples if problems] == []
