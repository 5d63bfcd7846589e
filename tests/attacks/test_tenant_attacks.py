"""A tenant's worker attacks agentdash and the other tenants, with only its own identity, on a
real nats-server running deploy/nats-accounts.conf as shipped, while the installed daemon
leads. Each attack is refused, or has no effect on agentdash's state, and the daemon keeps
leading.

The worker is worker-acme: its account imports the next task and the acks of acme's pools'
consumers, and acme's usage and busy subjects. Everything it sends goes through those or
stays in its own account.
"""

from __future__ import annotations

import json
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from controller.coordination.handover import TICK_KEY
from controller.coordination.history_docs import POOL, SHARES, key_of
from controller.coordination.lease import BUCKET as LEASE_BUCKET
from controller.coordination.lease import KEY as LEASE_KEY
from controller.coordination.overrides_bucket import BUCKET as OVERRIDES_BUCKET
from controller.coordination.overrides_bucket import KEY as OVERRIDES_KEY
from controller.coordination.spend_handover import key_of as spend_key_of
from controller.coordination.usage_handover import key_of as usage_key_of
from controller.core.config import load_config
from tests.support import eventually
from tests.support.accounts import AccountsServer
from tests.support.cli import EXAMPLE
from tests.support.daemon import Daemon

pytestmark = pytest.mark.e2e

ACME_STREAM, GLOBEX_STREAM = "AGENT_TASKS_ACME", "AGENT_TASKS_GLOBEX"
ACME_NEXT = f"$JS.API.CONSUMER.MSG.NEXT.{ACME_STREAM}.acme-research"
ACME_ACK = f"$JS.ACK.{ACME_STREAM}.acme-research.1.1.1.1.0"
NEXT_ONE = b'{"batch": 1, "no_wait": true}'
"""A pull request's body: one task, answered at once."""
# What agentdash alone may write: its buckets' keys, its streams, its live subjects.
AGENTDASH_SUBJECTS = (
    f"$KV.{LEASE_BUCKET}.{LEASE_KEY}",
    f"$KV.{OVERRIDES_BUCKET}.{OVERRIDES_KEY}",
    "$KV.agentdash_history.acme-research",
    "$KV.agentdash_spend.acme",
    "agentdash.audit",
    "agentdash.decisions",
    "agentdash.events",
)
# What worker-acme may send on (each reaches agentdash's account).
ITS_OWN = (ACME_NEXT, ACME_ACK, "agentdash.usage.acme", "agentdash.busy.acme")


class Watch:
    """Every message on agentdash's own subjects, as agentdash's account sees them."""

    def __init__(self) -> None:
        self.seen: list[Msg] = []

    async def start(self, admin: Client) -> None:
        async def keep(msg: Msg) -> None:
            self.seen.append(msg)

        for subject in AGENTDASH_SUBJECTS:
            await admin.subscribe(subject, cb=keep)
        await admin.subscribe("$KV.*.>", cb=keep)  # keys of any bucket, new ones included

    def foreign(self) -> list[str]:
        """What landed there that agentdash did not write: server answers (JetStream API
        replies, pull status messages) or the attacker's own words."""
        odd = []
        for msg in self.seen:
            text = msg.data.decode(errors="replace")
            status = (msg.headers or {}).get("Status")
            if "io.nats.jetstream" in text or "mallory" in text or status:
                odd.append(f"{msg.subject}: {text[:80]!r} status {status}")
        return odd


OWN_HISTORY = {
    TICK_KEY,
    *(key_of(pool, kind) for pool in load_config(EXAMPLE).pools for kind in (POOL, SHARES)),
}
"""The history keys the leader writes itself, whenever its pools' history changes (a task
published by the attacker moves it): their coming is not the attacker's doing."""

OWN_SPEND = {
    key
    for tenant in load_config(EXAMPLE).tenants
    for key in (spend_key_of(tenant), usage_key_of(tenant))
}
"""The spend bucket's keys the leader writes itself, at its first saves after it leads (each
tenant's forecast and tokens today): their coming is not the attacker's doing either."""


async def state(admin: Client) -> dict[str, Any]:
    """What the attacks must not change: the lease holder, the overrides' revision, each
    bucket's keys (the history's, besides those the leader writes itself)."""
    js = admin.jetstream()
    lease = await js.key_value(LEASE_BUCKET)
    overrides = await js.key_value(OVERRIDES_BUCKET)
    keys = {}
    for bucket in (OVERRIDES_BUCKET, "agentdash_history", "agentdash_spend"):
        try:
            keys[bucket] = sorted(await (await js.key_value(bucket)).keys())
        except (nats.js.errors.NoKeysError, nats.js.errors.NotFoundError):
            keys[bucket] = []
    keys["agentdash_history"] = [k for k in keys["agentdash_history"] if k not in OWN_HISTORY]
    keys["agentdash_spend"] = [k for k in keys["agentdash_spend"] if k not in OWN_SPEND]
    return {
        "lease": (await lease.get(LEASE_KEY)).value,
        "overrides": (await overrides.status()).values,
        "keys": keys,
    }


async def test_the_reply_subject_trick_writes_nothing_of_agentdashs(
    daemon: Daemon, admin: Client, worker: Client
) -> None:
    """Each request the worker may send, with its reply subject set to each of agentdash's
    subjects and keys: the server's answer lands in the worker's own account."""
    before = await state(admin)
    watch = Watch()
    await watch.start(admin)
    for subject in ITS_OWN:
        for target in AGENTDASH_SUBJECTS:
            body = NEXT_ONE if subject == ACME_NEXT else b"mallory"
            await worker.publish(subject, body, reply=target)
    # Again at each of the daemon's next ticks, as the attack that kept it from leading.
    for _ in range(4):
        await worker.publish(ACME_NEXT, NEXT_ONE, reply=AGENTDASH_SUBJECTS[0])
        await worker.flush()
        ticks = (await daemon.wait_health(lambda h: h["ticks"] > 0))["ticks"]
        health = await daemon.wait_health(lambda h, t=ticks: h["ticks"] > t + 1)
        assert health["role"] == "leader", health
    await admin.flush()
    assert watch.foreign() == []
    after = await state(admin)
    assert after["lease"] == before["lease"]
    assert after["keys"] == before["keys"]
    health = await daemon.health()
    assert health is not None
    assert (health["role"], health["status"]) == ("leader", 200)


async def test_filling_a_bucket_through_replies_adds_nothing(
    daemon: Daemon, admin: Client, worker: Client
) -> None:
    before = await state(admin)
    for n in range(2000):
        await worker.publish(ACME_NEXT, NEXT_ONE, reply=f"$KV.{OVERRIDES_BUCKET}.k{n}")
    await worker.flush()
    await admin.flush()
    after = await state(admin)
    assert after["keys"][OVERRIDES_BUCKET] == before["keys"][OVERRIDES_BUCKET]
    assert after["overrides"] == before["overrides"]
    health = await daemon.health()
    assert health is not None
    assert health["role"] == "leader"


async def test_a_worker_sniffing_every_subject_sees_no_other_tenants_task(
    accounts_server: AccountsServer, daemon: Daemon, worker: Client
) -> None:
    seen: list[Msg] = []

    async def sniff(msg: Msg) -> None:
        seen.append(msg)

    await worker.subscribe(">", cb=sniff)
    await worker.subscribe("_INBOX.>", cb=sniff)
    await worker.flush()
    secret = b'{"id": "g1", "prompt": "globex secret", "api_key": "sk-globex"}'
    producer = await nats.connect(accounts_server.url("producer-globex"))
    globex = await nats.connect(accounts_server.url("worker-globex"))
    try:
        await producer.jetstream().publish("agent_tasks_globex.globex-coder", secret)
        tasks = await globex.jetstream().pull_subscribe_bind("globex-coder", GLOBEX_STREAM)
        [task] = await tasks.fetch(1, timeout=5)
        assert task.data == secret  # globex's worker got its task ...
        await task.ack_sync()
        health = await daemon.wait_health(lambda h: h["ticks"] > 3)  # the daemon read lags
        assert health["role"] == "leader"
        await worker.flush()
    finally:
        await globex.close()
        await producer.close()
    texts = [m.data for m in seen]
    assert not any(b"globex" in t for t in texts)  # ... and acme saw none of it
    assert not any(b"num_pending" in t for t in texts)  # nor the daemon's reads of the queues


async def test_a_worker_cannot_take_or_ack_another_tenants_task(
    accounts_server: AccountsServer, admin: Client, worker: Client
) -> None:
    producer = await nats.connect(accounts_server.url("producer-globex"))
    try:
        await producer.jetstream().publish("agent_tasks_globex.globex-coder", b'{"id": "g2"}')
    finally:
        await producer.close()
    theirs = await worker.jetstream().pull_subscribe_bind("globex-coder", GLOBEX_STREAM)
    with pytest.raises((nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError)):
        await theirs.fetch(1, timeout=1)
    for sequence in range(1, 4):  # acks forged for the first deliveries, and a term
        forged = f"$JS.ACK.{GLOBEX_STREAM}.globex-coder.1.{sequence}.{sequence}.1.0"
        await worker.publish(forged, b"+ACK")
        await worker.publish(forged, b"+TERM")
    await worker.publish("agent_tasks_globex.globex-coder", b'{"id": "forged"}')  # nor give it work
    await worker.flush()
    info = await admin.jetstream().consumer_info(GLOBEX_STREAM, "globex-coder")
    assert (info.num_pending, info.num_ack_pending) == (1, 0)  # still there, untaken
    stream = await admin.jetstream().stream_info(GLOBEX_STREAM)
    assert stream.state.messages == 1


async def test_forged_usage_spends_nothing_of_another_tenant(
    daemon: Daemon, worker: Client
) -> None:
    report = {"tenant": "globex", "pool": "globex-coder", "tokens": 999_999_999, "work_s": 1.0}
    await worker.publish("agentdash.usage.globex", json.dumps(report).encode())
    await worker.publish("agentdash.usage.acme", json.dumps(report).encode())  # theirs, in ours
    mine = {"tenant": "acme", "pool": "acme-research", "tokens": 1000, "work_s": 1.0}
    await worker.publish("agentdash.usage.acme", json.dumps(mine).encode())
    await worker.flush()

    async def acme_counted() -> bool:
        return 'agentdash_tenant_tokens_today{tenant="acme"} 1000.0' in await daemon.metrics()

    await eventually(acme_counted, timeout=15)  # its own report counts ...
    assert 'agentdash_tenant_tokens_today{tenant="globex"} 0.0' in await daemon.metrics()


async def test_a_producer_reaches_nothing_but_the_task_subjects(
    accounts_server: AccountsServer, daemon: Daemon, admin: Client
) -> None:
    before = await state(admin)
    watch = Watch()
    await watch.start(admin)
    producer = await nats.connect(accounts_server.url("producer-acme"))
    try:
        for target in AGENTDASH_SUBJECTS:  # JetStream's ack of a task, aimed at agentdash's
            await producer.publish("agent_tasks_acme.acme-research", b"{}", reply=target)
            await producer.publish(target, b"mallory")
        await producer.publish(ACME_NEXT, b'{"batch": 1}')  # nor take tasks
        await producer.flush()
    finally:
        await producer.close()
    await admin.flush()
    assert watch.foreign() == []
    after = await state(admin)
    assert (after["lease"], after["keys"]) == (before["lease"], before["keys"])
    info = await admin.jetstream().consumer_info(ACME_STREAM, "acme-research")
    assert info.num_pending == len(AGENTDASH_SUBJECTS)  # its tasks are queued, none taken


async def test_acks_through_its_own_consumer_take_no_task_of_another_tenant(
    accounts_server: AccountsServer, admin: Client, worker: Client
) -> None:
    """An ack names a stream sequence: acme acks, terms, naks and marks in progress the
    sequences of globex's tasks through its own consumer, after taking a task of its own.
    globex's tasks stay, for globex."""
    globex = await nats.connect(accounts_server.url("producer-globex"))
    acme = await nats.connect(accounts_server.url("producer-acme"))
    try:
        theirs = [await globex.jetstream().publish("agent_tasks_globex.globex-coder", b"g")]
        await acme.jetstream().publish("agent_tasks_acme.acme-research", b"a")
        theirs.append(await globex.jetstream().publish("agent_tasks_globex.globex-coder", b"g"))
    finally:
        await acme.close()
        await globex.close()
    mine = await worker.jetstream().pull_subscribe_bind("acme-research", ACME_STREAM)
    [task] = await mine.fetch(1, timeout=5)
    for ack in theirs:
        for body in (b"+ACK", b"+TERM", b"-NAK", b"+WPI", b"+NXT", b""):
            await worker.publish(f"$JS.ACK.{ACME_STREAM}.acme-research.1.{ack.seq}.1.1.0", body)
    await task.ack_sync()  # its own ack is answered: the server has seen the forged ones
    for ack in theirs:
        assert (await admin.jetstream().get_msg(GLOBEX_STREAM, ack.seq)).data == b"g"
    info = await admin.jetstream().consumer_info(GLOBEX_STREAM, "globex-coder")
    assert (info.num_pending, info.num_ack_pending) == (2, 0)


async def test_the_servers_own_services_answer_a_worker_nothing(worker: Client) -> None:
    """nats-server answers every account's users about their own account (connections,
    statistics, who they are); a worker may not even ask, nor ask for JetStream's API."""
    refused: list[str] = []
    for subject in ("$SYS.REQ.SERVER.PING.CONNZ", "$SYS.REQ.ACCOUNT.PING.STATZ",
                    "$SYS.REQ.USER.INFO", "$JS.API.INFO", "$JS.API.STREAM.NAMES"):  # fmt: skip
        with pytest.raises(nats.errors.TimeoutError):
            await worker.request(subject, b'{"acc": "AGENTDASH"}', timeout=0.5)
        refused.append(str(worker.last_error))
    assert all("permissions violation for publish" in said for said in refused), refused


async def test_a_producers_jetstream_headers_touch_no_task(
    accounts_server: AccountsServer, admin: Client
) -> None:
    """The stream allows none of JetStream's headers that remove or move messages: a rollup
    would purge every pool's tasks, a TTL or a schedule would drop or retarget one."""
    producer = await nats.connect(accounts_server.url("producer-acme"))
    try:
        await producer.jetstream().publish("agent_tasks_acme.acme-support", b"g")
        for headers in (
            {"Nats-Rollup": "all"},
            {"Nats-Rollup": "sub"},
            {"Nats-TTL": "1s"},
            {
                "Nats-Schedule": "@at 2020-01-01T00:00:00Z",
                "Nats-Schedule-Target": "agent_tasks_acme.acme-support",
            },
            {"Nats-Batch-Id": "b", "Nats-Batch-Sequence": "1", "Nats-Batch-Commit": "1"},
            {"Nats-Incr": "+1"},
        ):
            answer = await producer.request("agent_tasks_acme.acme-research", b"x", headers=headers)
            assert b'"error"' in answer.data, (headers, answer.data)
    finally:
        await producer.close()
    stream = await admin.jetstream().stream_info(ACME_STREAM)
    assert (stream.state.messages, stream.state.first_seq) == (1, 1)  # acme-support's, alone
    assert (await admin.jetstream().get_msg(ACME_STREAM, 1)).data == b"g"
