"""The NATS KV leader lease on a real nats-server: one holder at a time, and a holder whose
own renewal landed unheard (NATS lost the answer, or sent it on once back) takes the entry
back at once rather than follow itself until it expires."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import signal
import time

import nats
import pytest
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.coordination.lease import BUCKET, KEY, LeaseError, NatsLease
from controller.core.events import EventBus, HealthEvent
from controller.runtime.health import SourceHealth
from controller.runtime.leadership import LeaseTeller
from controller.runtime.metrics import Metrics
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool


async def test_a_renewal_that_landed_unheard_is_taken_back_not_followed(nc: Client) -> None:
    mine = NatsLease(nc, "daemon-a", ttl=60)
    other = NatsLease(nc, "daemon-b", ttl=60)
    await mine.start()
    await other.start()
    assert await mine.renew()
    kv = await nc.jetstream().key_value(BUCKET)
    await kv.put(KEY, b"daemon-a")  # its renewal, landed after it gave up on the answer
    assert await mine.renew()  # the first renewal leads again
    assert mine.leader_name == "daemon-a"
    assert not await other.renew()  # one holder at a time, still
    assert other.leader_name == "daemon-a"

    await kv.put(KEY, b"daemon-b")  # another's name is another's lease: followed
    assert not await mine.renew()
    assert mine.leader_name == "daemon-b"


async def test_a_watcher_waits_by_the_ttl_of_the_bucket_not_its_own(nc: Client) -> None:
    """A dashboard at the default TTL beside daemons at `--lease-ttl 5`: it said it had no
    valid leader for more than 10 s, where the daemons' lease lives 5 s."""
    late = NatsLease(nc, "dashboard-b", ttl=10, contend=False)  # before any daemon ran
    await late.start()
    daemon = NatsLease(nc, "daemon-a", ttl=5)
    await daemon.start()
    assert await daemon.renew()
    watcher = NatsLease(nc, "dashboard-a", ttl=10, contend=False)
    await watcher.start()
    assert watcher.ttl == 5
    assert not await late.renew()
    assert (late.ttl, late.leader_name) == (5, "daemon-a")
    with pytest.raises(LeaseError, match="already has a TTL of 5 s"):
        await NatsLease(nc, "daemon-b", ttl=10).start()  # a controller is refused


async def test_a_holder_cut_off_from_nats_does_not_name_itself_leader(nc: Client) -> None:
    lease = NatsLease(nc, "daemon-a", ttl=60, timeout=0.5)
    await lease.start()
    assert await lease.renew()
    await nc.close()  # as NATS gone: the renewal cannot be sent
    assert not await lease.renew()
    assert lease.leader_name is None  # not known: never itself while it cannot renew


async def test_a_follower_cut_off_from_nats_names_no_leader_after_a_ttl(
    nats_server: NatsServer, nc: Client
) -> None:
    """NATS away: the leader it last saw may have lost the lease since; after a TTL without
    an answer, who leads is not known (its /healthz then says candidate, not follower)."""
    leader = NatsLease(nc, "daemon-a", ttl=1.0, timeout=0.2)
    await leader.start()
    assert await leader.renew()
    other = await nats.connect(nats_server.url, max_reconnect_attempts=0)
    follower = NatsLease(other, "daemon-b", ttl=1.0, timeout=0.2)
    await follower.start()
    assert not await follower.renew()
    assert follower.leader_name == "daemon-a"
    await other.close()  # as NATS gone, for this process

    async def unknown() -> bool:
        return not await follower.renew() and follower.leader_name is None

    assert follower.leader_name == "daemon-a"  # within the TTL the last name seen stands
    await eventually(unknown, timeout=10, every=0.1)


CONSUMER_INFO = b'{"type":"io.nats.jetstream.api.v1.consumer_info_response","stream_name":"X"}'
"""What the server once stored as the lease: its answer to a request whose reply subject a
worker had set to the lease's key."""


def broken_reads(lease: NatsLease) -> str:
    """The reads it counted as broken, as /metrics serves them."""
    exposed = Metrics(config({"web": pool("acme")}), lease.bad).render().decode()
    (line,) = [s for s in exposed.splitlines() if 'bad_messages_total{source="lease"}' in s]
    return line.rsplit(" ", 1)[1]


async def test_a_broken_lease_is_never_followed_and_is_taken_over_after_the_ttl(
    nc: Client,
) -> None:
    contender = NatsLease(nc, "daemon-a", ttl=1)
    watcher = NatsLease(nc, "dashboard", ttl=1, contend=False)
    await contender.start()
    await watcher.renew()
    assert broken_reads(watcher) == "0.0"
    kv = await nc.jetstream().key_value(BUCKET)
    forged = await kv.put(KEY, CONSUMER_INFO)
    assert not await contender.renew()
    await watcher.renew()
    for lease in (contender, watcher):
        assert lease.leader_name is None  # never the answer's text
        assert broken_reads(lease) == "1.0"
        assert lease.broken is not None
        assert lease.broken.revision == forged
        assert lease.broken.value.startswith('\'{"type":"io.nats.jetstream.api.v1.consumer_info')

    async def rewritten_and_renewed() -> bool:  # the attack, repeated: a value at each try
        await kv.put(KEY, CONSUMER_INFO)
        return await contender.renew()

    await eventually(rewritten_and_renewed, timeout=5, every=0.1)  # one TTL broken, then ours
    assert contender.leader_name == "daemon-a"
    assert contender.broken is None
    await watcher.renew()
    assert watcher.leader_name == "daemon-a"
    assert broken_reads(watcher) == "1.0"  # a holder's name again: nothing more counted


async def test_a_broken_value_over_the_holders_own_entry_is_taken_back_at_once(
    nc: Client,
) -> None:
    mine = NatsLease(nc, "daemon-a", ttl=60)
    other = NatsLease(nc, "daemon-b", ttl=60)
    await mine.start()
    await other.start()
    assert await mine.renew()
    kv = await nc.jetstream().key_value(BUCKET)
    await kv.put(KEY, b"evil\x1b]0;pwned\x07")  # no holder's name: control characters
    assert not await other.renew()
    assert other.leader_name is None
    assert await mine.renew()  # no one else held it since its own renewal
    assert mine.last_broken is not None
    assert "\\x1b" in mine.last_broken.value  # escaped, never raw
    assert not await other.renew()
    assert other.leader_name == "daemon-a"


async def test_a_nats_that_lost_its_store_is_led_again(nats_server: NatsServer, nc: Client) -> None:
    """A nats-server restarted without its JetStream store (an emptyDir, a new volume) has no
    lease bucket: the contender makes it again, as at start, and leads; it used to stay a
    candidate until restarted, and nothing scaled."""
    lease = NatsLease(nc, "daemon-a", ttl=2, timeout=0.5)
    watcher = NatsLease(nc, "dashboard", ttl=2, contend=False, timeout=0.5)
    await lease.start()
    await watcher.start()
    assert await lease.renew()
    nats_server.stop()
    shutil.rmtree(nats_server.store_dir / "jetstream")
    nats_server.start()

    await eventually(lease.renew, timeout=10, every=0.2)
    assert lease.leader_name == "daemon-a"
    await watcher.renew()
    assert watcher.leader_name == "daemon-a"


async def test_a_follower_whose_reads_hang_and_are_cut_names_no_leader_after_a_ttl(
    nats_server: NatsServer,
) -> None:
    """The server stopped (SIGSTOP): the follower's read of the lease never answers, and the
    loop cuts each renewal by its own deadline (a cancel, which raises nothing in the lease).
    After a TTL without an answer it names no leader, as it does when NATS is away."""
    clients = [await nats.connect(nats_server.url) for _ in range(2)]
    a, b = (NatsLease(client, name, ttl=0.5) for client, name in zip(clients, "ab", strict=True))
    for lease in (a, b):
        await lease.start()
    assert await a.renew()
    assert not await b.renew()
    assert b.leader_name == "a"
    pid = nats_server.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        while time.monotonic() - started < 1.0:  # two TTLs of renewals, each cut
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(b.renew(), 0.1)
        assert b.leader_name is None
        assert not b.leading
    finally:
        os.kill(pid, signal.SIGCONT)
    for client in clients:
        await client.close()


async def test_a_renewal_nats_refuses_is_told_with_its_reason(nc: Client) -> None:
    """A NATS that answers reads and refuses the lease's writes (a full disk, a sealed
    stream): the leader said `not leading: the lease cannot be renewed, and no leader is
    known`, then /healthz `no valid leader for more than the lease's TTL (10 s)`, its queues
    read fine: nothing said why."""
    clock = FakeClock()
    bus = EventBus()
    health = SourceHealth(bus)
    lease = NatsLease(nc, "daemon-a", ttl=10)
    await lease.start()
    teller = LeaseTeller(lease, health, bus, clock)
    told = bus.subscribe()
    assert await lease.renew()
    teller.renewed(False, True, lease.leader_name, clock())
    js = nc.jetstream()
    stream = (await js.stream_info(f"KV_{BUCKET}")).config
    await js.update_stream(dataclasses.replace(stream, sealed=True))

    assert not await lease.renew()
    teller.renewed(True, False, lease.leader_name, clock.advance(1))
    refused = "invalid operation on sealed stream"
    lines = [told.get_nowait() for _ in range(told.qsize())]
    assert [(e.ok, e.detail) for e in lines if isinstance(e, HealthEvent)] == [
        (True, "leading"),
        (False, f"not leading: the lease cannot be renewed ({lease.unwritten}), and no leader"
         " is known"),
    ]  # fmt: skip
    assert refused in (lease.unwritten or "")
    assert not await lease.renew()
    teller.renewed(False, False, lease.leader_name, clock.advance(10))
    assert health.problems["lease"] == (
        "no valid leader for more than the lease's TTL (10 s); this process cannot write"
        f" it: {lease.unwritten}"
    )


async def test_two_contenders_with_other_ttls_started_at_once_are_refused_by_the_ttl(
    nc: Client,
) -> None:
    """Both find no bucket and both make it: the second make meets the first's bucket, made
    with another TTL (NATS: `stream name already in use with a different configuration`). It
    is refused as a bucket found with another TTL is, naming the TTL (the daemon's one line,
    exit 2), not as a failing NATS."""
    short, long = NatsLease(nc, "daemon-a", ttl=2), NatsLease(nc, "daemon-b", ttl=5)
    started = await asyncio.gather(short.start(), long.start(), return_exceptions=True)

    refused = [outcome for outcome in started if outcome is not None]
    assert len(refused) == 1
    assert isinstance(refused[0], LeaseError), refused
    assert "already has a TTL of" in str(refused[0])
