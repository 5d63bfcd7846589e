"""worker-acme floods the subjects its account may publish on, agentdash.usage.acme and
agentdash.busy.acme, as fast as it can. Each report costs agentdash something to read and, when
it is held, a record in the audit: a flood must cost no more than reports.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import nats
import pytest
from nats.aio.client import Client

from controller.sources.usage import HELD, HELD_AUDITS_AT_ONCE
from tests.support import eventually
from tests.support.accounts import AccountsServer
from tests.support.cli import EXAMPLE
from tests.support.daemon import Daemon
from tests.support.shared_kv import audit_records

pytestmark = pytest.mark.e2e

LEASE_TTL_S = 10.0
"""The daemon's default: what a deployment runs with."""
FLOOD_S = 2.5 * LEASE_TTL_S
"""Long enough for the lease to run out twice over, were its renewals starved."""


BUSY = b'{"tenant": "acme", "pool": "acme-research", "pod": "p", "busy": 1}'


def usage(tenant: str, pool: str, tokens: int, task: str = "t") -> bytes:
    report = {"tenant": tenant, "pool": pool, "tokens": tokens, "work_s": 1.0, "task": task}
    return json.dumps(report).encode()


async def flood(worker: Client, subject: str, body: bytes, seconds: float) -> int:
    """Publish `body` on `subject` for `seconds`, as fast as the connection takes it."""
    sent, until = 0, time.monotonic() + seconds
    while time.monotonic() < until:
        for _ in range(1000):
            await worker.publish(subject, body)
        sent += 1000
    await worker.flush(timeout=60)
    return sent


def lost_the_lease(daemon: Daemon) -> list[str]:
    """The daemon's own lines saying it stopped leading."""
    said = [str(line.get("message", "")) for line in daemon.read()]
    return [line for line in said if line.startswith("lease: ") and line != "lease: leading"]


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("agentdash.usage.acme", usage("acme", "acme-research", 1)),
        ("agentdash.busy.acme", BUSY),
    ],
    ids=["usage", "busy"],
)
async def test_a_flood_of_reports_does_not_cost_the_daemon_its_lease(
    accounts_server: AccountsServer, admin: Client, worker: Client, subject: str, body: bytes
) -> None:
    """On the connection that renews the lease, the server cut the daemon off as a slow
    consumer and the lease was lost within 2 s of the flood's start. At the default lease
    (a short one in a test is lost to a busy machine's scheduling). `admin` made the queues."""
    daemon = Daemon(EXAMPLE, "--nats-url", accounts_server.url("agentdash"),
                    "--lease-ttl", f"{LEASE_TTL_S:g}")  # fmt: skip
    try:
        await daemon.wait_health(lambda h: h["role"] == "leader" and h["status"] == 200)
        await flooded_and_still_leading(daemon, worker, subject, body)
        await reports_read_again(daemon, accounts_server)
        await flood_counted(daemon, subject)
    finally:
        daemon.stop()


async def flooded_and_still_leading(
    daemon: Daemon, worker: Client, subject: str, body: bytes
) -> None:
    samples: list[tuple[str, int]] = []
    flooding = asyncio.create_task(flood(worker, subject, body, FLOOD_S))
    while not flooding.done():
        health = await daemon.health()
        samples.append((health["role"], health["status"]) if health else ("down", 0))
        await asyncio.sleep(0.25)  # a sampling interval, not a wait for something to happen
    assert await flooding > 0
    assert lost_the_lease(daemon) == []
    assert set(samples) == {("leader", 200)}, samples


async def flood_counted(daemon: Daemon, subject: str) -> None:
    """What the flood cost is counted in /metrics and said in the log in words, naming the
    subject, at most a line a minute: no Python object's repr, not a line a message."""
    metrics = await daemon.metrics()
    dropped = next(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('agentdash_bad_messages_total{source="flood"}')
    )
    assert dropped > 0
    said = [str(line.get("message", "")) for line in daemon.read()]
    floods = [
        line for line in said if re.match(r"dropped (a message|[\d,]+ messages) of a flood: ", line)
    ]
    assert floods, said[-20:]
    assert len(floods) <= 2
    assert subject in floods[0]
    assert not any("object at 0x" in line for line in said)


async def reports_read_again(daemon: Daemon, accounts_server: AccountsServer) -> None:
    # Reports are read again once the flood is over (globex's have a connection of their
    # own: test_a_flood_of_one_tenants_reports_loses_none_of_anothers).
    globex = await nats.connect(accounts_server.url("worker-globex"))
    try:

        async def globex_counted() -> bool:
            await globex.publish("agentdash.usage.globex", usage("globex", "globex-coder", 1))
            await globex.flush()
            metrics = await daemon.metrics()
            return 'agentdash_tenant_tokens_today{tenant="globex"} 0.0' not in metrics

        await eventually(globex_counted, timeout=60, every=0.5)
    finally:
        await globex.close()


async def test_a_flood_of_held_reports_cannot_fill_the_audit(
    daemon: Daemon, admin: Client, worker: Client
) -> None:
    """Each held report was audited: 3,600 records a second, and the audit (256 MiB, its
    oldest dropped first) would have lost every operator's record in two minutes."""
    reports = 2000
    for n in range(reports):  # each one different: the audit's message ids do not dedupe them
        await worker.publish("agentdash.usage.acme", usage("acme", "acme-research", 10**9, f"t{n}"))
    await worker.flush()

    read = f'agentdash_bad_messages_total{{source="usage"}} {reports}.0'

    async def all_read() -> bool:
        return read in await daemon.metrics()

    await eventually(all_read, timeout=60)
    await admin.flush()
    held = [r for r in await audit_records(admin) if r["action"] == HELD]
    assert 1 <= len(held) <= HELD_AUDITS_AT_ONCE
    assert 'agentdash_tenant_tokens_today{tenant="acme"} 0.0' in await daemon.metrics()
    health = await daemon.health()
    assert health is not None
    assert (health["role"], health["status"]) == ("leader", 200)


async def test_a_flood_of_one_tenants_reports_loses_none_of_anothers(
    accounts_server: AccountsServer, daemon: Daemon, worker: Client
) -> None:
    """acme's flood filled the one subscription every tenant's reports shared: 99 of
    globex's 100 reports sent during it were lost, so globex's spend looked unspent and its
    hard cap held nothing. Each tenant's reports have a connection of their own."""
    globex = await nats.connect(accounts_server.url("worker-globex"))
    sent = 0
    try:
        flooding = asyncio.create_task(
            flood(worker, "agentdash.usage.acme", usage("acme", "acme-research", 1), 10.0)
        )
        while not flooding.done():
            await globex.publish(
                "agentdash.usage.globex", usage("globex", "globex-coder", 1000, f"g{sent}")
            )
            sent += 1
            await asyncio.sleep(0.1)  # globex's pace, a worker finishing a task now and then
        await globex.flush()
        assert await flooding > 0
    finally:
        await globex.close()
    spent = f'agentdash_tenant_tokens_today{{tenant="globex"}} {1000 * sent}.0'

    async def all_counted() -> bool:
        return spent in await daemon.metrics()

    await eventually(all_counted, timeout=30)
    health = await daemon.health()
    assert health is not None
    assert (health["role"], health["status"]) == ("leader", 200)


async def test_a_flood_of_tasks_does_not_cost_the_daemon_its_lease(
    accounts_server: AccountsServer, admin: Client
) -> None:
    """The daemon sees each task arrive (the wake from zero, the arrival rate). Watched on the
    lease's connection, a producer publishing tasks as fast as it could got that connection
    cut as a slow consumer: the daemon lost the lease within seconds and was a candidate, 503,
    for as long as the flood lasted. Every task stays queued all the same."""
    daemon = Daemon(EXAMPLE, "--nats-url", accounts_server.url("agentdash"),
                    "--lease-ttl", f"{LEASE_TTL_S:g}")  # fmt: skip
    producer = await nats.connect(accounts_server.url("producer-acme"))
    try:
        await daemon.wait_health(lambda h: h["role"] == "leader" and h["status"] == 200)
        await flooded_and_still_leading(daemon, producer, "agent_tasks_acme.acme-research", b"{}")
        await producer.flush()
        info = await admin.jetstream().consumer_info("AGENT_TASKS_ACME", "acme-research")
        assert info.num_pending > 0
    finally:
        await producer.close()
        daemon.stop()


async def test_floods_from_two_tenants_at_once_cost_neither_the_lease_nor_a_third_tenants_reports(
    accounts_server: AccountsServer, daemon: Daemon, worker: Client
) -> None:
    """acme flooding its usage and busy subjects while initech floods its usage subject, at the
    test daemon's lease of 2 s: each flood read as fast as it came took the loop from the
    lease's renewals, and the daemon was a candidate, 503, before the floods were over. Each
    tenant's reports are read at a bounded rate; one that sends more is not listened to for a
    while. globex, reporting at a worker's pace meanwhile, has every report counted."""
    initech = await nats.connect(accounts_server.url("worker-initech"))
    globex = await nats.connect(accounts_server.url("worker-globex"))
    samples: list[tuple[str, int]] = []
    sent = 0
    try:
        floods = [
            asyncio.create_task(flood(client, subject, body, FLOOD_S))
            for client, subject, body in [
                (worker, "agentdash.usage.acme", usage("acme", "acme-research", 1)),
                (worker, "agentdash.busy.acme", BUSY),
                (initech, "agentdash.usage.initech", usage("initech", "initech-summarize", 1)),
            ]
        ]
        while not all(f.done() for f in floods):
            await globex.publish(
                "agentdash.usage.globex", usage("globex", "globex-coder", 1000, f"g{sent}")
            )
            sent += 1
            health = await daemon.health()
            samples.append((health["role"], health["status"]) if health else ("down", 0))
            await asyncio.sleep(0.1)  # globex's pace, and the health's sampling interval
        await globex.flush()
        assert all(sent > 0 for sent in await asyncio.gather(*floods))
    finally:
        await globex.close()
        await initech.close()
    spent = f'agentdash_tenant_tokens_today{{tenant="globex"}} {1000 * sent}.0'

    async def all_counted() -> bool:
        return spent in await daemon.metrics()

    await eventually(all_counted, timeout=30)
    assert lost_the_lease(daemon) == []
    assert set(samples) == {("leader", 200)}, samples


async def test_a_flood_of_oversized_reports_is_not_listened_to_either(
    daemon: Daemon, worker: Client
) -> None:
    """Reports of 20 kB (the account lets a tenant publish up to 64 kB) filled the bytes a
    subscription keeps waiting before its count reached the flood mark: the subject was never
    unsubscribed, and every message of the flood was read and dropped by the client, at about
    ten times the CPU of a flood of small reports. Their bytes are a flood mark too."""
    pad = "x" * 20_000
    body = json.dumps({"tenant": "acme", "pool": "acme-research", "tokens": 1, "work_s": 1.0,
                       "pad": pad}).encode()  # fmt: skip
    flooding = asyncio.create_task(flood(worker, "agentdash.usage.acme", body, 10.0))

    def not_listened_to() -> bool:
        said = [str(line.get("message", "")) for line in daemon.read()]
        return any("agentdash.usage.acme" in s and "not listened to" in s for s in said)

    try:
        await eventually(not_listened_to, timeout=20, every=0.05)
    finally:
        assert await flooding > 0


def peak_memory_mb(daemon: Daemon) -> float:
    """The daemon's largest resident size so far (VmHWM)."""
    with open(f"/proc/{daemon.process.pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


async def test_a_flood_of_reports_with_large_headers_does_not_grow_the_daemon(
    daemon: Daemon, worker: Client
) -> None:
    """Each report with 60 kB of headers (the account lets a tenant publish 64 kB): the
    headers were parsed and kept with each report waiting, outside the bytes a subscription
    counts, and the daemon grew by 175 MB before acme was seen flooding, next to the
    Deployment's 256 Mi limit (a tenant of 2,000 reports a second: four times that). The
    reports' connections take no headers, so the server strips them."""
    before = peak_memory_mb(daemon)
    headers = {f"h{n}": "x" * 1000 for n in range(60)}
    body = usage("acme", "acme-research", 1)
    for _ in range(100):
        for _ in range(100):
            await worker.publish("agentdash.usage.acme", body, headers=headers)
        await asyncio.sleep(0)  # the worker's own loop reads and writes meanwhile
    await worker.flush(timeout=60)

    def not_listened_to() -> bool:
        said = [str(line.get("message", "")) for line in daemon.read()]
        return any("agentdash.usage.acme" in s and "not listened to" in s for s in said)

    await eventually(not_listened_to, timeout=20, every=0.05)
    assert peak_memory_mb(daemon) - before < 50
