"""The NATS KV leader lease on a real nats-server: one holder at a time, and a holder whose
own renewal landed unheard (NATS lost the answer, or sent it on once back) takes the entry
back at once rather than follow itself until it expires."""

from __future__ import annotations

from nats.aio.client import Client

from controller.coordination.lease import BUCKET, KEY, NatsLease


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


async def test_a_holder_cut_off_from_nats_does_not_name_itself_leader(nc: Client) -> None:
    lease = NatsLease(nc, "daemon-a", ttl=60, timeout=0.5)
    await lease.start()
    assert await lease.renew()
    await nc.close()  # as NATS gone: the renewal cannot be sent
    assert not await lease.renew()
    assert lease.leader_name is None  # not known: never itself while it cannot renew
