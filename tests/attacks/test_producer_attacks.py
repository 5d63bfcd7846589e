"""globex's producer attacks acme's queues, with only its own identity, on a real nats-server
running deploy/nats-accounts.conf as shipped. Each tenant's producers have an account of
their own that imports that tenant's pools' task subjects alone: with one producer identity
for every tenant, whoever submitted globex's tasks could put tasks in acme's queues, spending
acme's budget and taking acme's pods. Each attack is refused (a permissions violation) and
acme's stream stores nothing; globex's own tasks are stored, and acme's producer's are.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import nats
import nats.errors
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from agentdash.nats_accounts import password_variable
from controller.coordination.lease import BUCKET as LEASE_BUCKET
from controller.coordination.lease import KEY as LEASE_KEY
from tests.support import eventually
from tests.support.accounts import AccountsServer, password

pytestmark = pytest.mark.e2e

ACME_STREAM, GLOBEX_STREAM = "AGENT_TASKS_ACME", "AGENT_TASKS_GLOBEX"
ACME_TASKS, GLOBEX_TASKS = "agent_tasks_acme.acme-research", "agent_tasks_globex.globex-coder"
REFUSED = "permissions violation for publish"
ACK_REPLY = f"$JS.ACK.{ACME_STREAM}.acme-research.1.1.1.1.0"
REPLIES = (
    "_INBOX.acme",  # where acme's producer would read an answer
    ACME_TASKS,  # JetStream's ack of a task, stored as one of acme's
    ACK_REPLY,  # ... or taken for an ack of acme's first task
    f"$KV.{LEASE_BUCKET}.{LEASE_KEY}",
    "agentdash.usage.acme",
)
"""Reply subjects aimed at acme's inbox, acme's queue and agentdash's subjects."""
ESCAPED = (
    ACME_TASKS,
    "AGENT_TASKS_ACME.acme-research",
    "agent_tasks_acme.*",
    "agent_tasks_acme.>",
    ">",
    "agent_tasks_acme.acme-research.",
    "agent_tasks_acme..acme-research",
    "agent_tasks_acme\\.acme-research",
    '"agent_tasks_acme.acme-research"',
    "agent_tasks_acme.acme-research\x00",
    "agent_tasks_acme.acme\u2010research",  # a hyphen that only looks like one
    f"{GLOBEX_TASKS}..",
)
"""Subjects written on the wire as they are, none checked by a client library first."""


async def acme_queue(admin: Client) -> tuple[int, int, int]:
    """What acme's stream holds, and its consumer's pending and ack pending."""
    stream = await admin.jetstream().stream_info(ACME_STREAM)
    consumer = await admin.jetstream().consumer_info(ACME_STREAM, "acme-research")
    return stream.state.messages, consumer.num_pending, consumer.num_ack_pending


async def globex_stored(admin: Client, count: int) -> bool:
    return (await admin.jetstream().stream_info(GLOBEX_STREAM)).state.messages == count


async def told(client: Client, said: list[str], count: int) -> list[str]:
    """The server's errors once `count` have come (nats.py reports them from a task of its
    own: the flush's PONG can come first)."""
    await client.flush()
    await eventually(lambda: len(said) >= count)
    return said


async def raw_publish(port: int, user: str, line: bytes) -> list[str]:
    """Send `line` (a PUB or HPUB and its payload) on a connection of its own, speaking
    NATS's protocol by hand, then a PING: what the server said before its PONG."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await reader.readline()  # INFO
        credentials = {"user": user, "pass": password(password_variable(user))}
        connect = {**credentials, "verbose": False, "pedantic": False, "headers": True}
        writer.write(f"CONNECT {json.dumps(connect)}\r\n".encode() + line + b"PING\r\n")
        await writer.drain()
        said = []
        while not (answer := await asyncio.wait_for(reader.readline(), 10)).startswith(b"PONG"):
            assert answer, f"the server closed the connection after {said}"
            said.append(answer.decode(errors="replace").strip())
        return said
    finally:
        writer.close()


@pytest.fixture
async def globex(accounts_server: AccountsServer) -> AsyncIterator[tuple[Client, list[str]]]:
    """globex's producer, and the errors the server has sent it."""
    said: list[str] = []

    async def keep(exc: Exception) -> None:
        said.append(str(exc))

    client = await nats.connect(accounts_server.url("producer-globex"), error_cb=keep)
    try:
        yield client, said
    finally:
        await client.close()


async def test_globex_publishing_acmes_tasks_is_refused_and_acme_stores_none(
    accounts_server: AccountsServer, admin: Client, globex: tuple[Client, list[str]]
) -> None:
    """Plainly, through JetStream, and with reply subjects aimed at acme's inbox and queue
    and at agentdash's subjects. `admin` made the example's queues."""
    producer, said = globex
    await producer.publish(ACME_TASKS, b'{"id": "forged"}')
    with pytest.raises(nats.errors.TimeoutError):  # no answer: JetStream never saw it
        await producer.jetstream().publish(ACME_TASKS, b'{"id": "forged"}', timeout=1)
    for reply in REPLIES:
        await producer.publish(ACME_TASKS, b'{"id": "forged"}', reply=reply)
    refused = await told(producer, said, 2 + len(REPLIES))
    assert refused == [f'nats: {REFUSED} to "{ACME_TASKS}"'] * (2 + len(REPLIES))
    assert await acme_queue(admin) == (0, 0, 0)

    ack = await producer.jetstream().publish(GLOBEX_TASKS, b'{"id": "g1"}')
    assert ack.stream == GLOBEX_STREAM  # its own tenant's task is stored ...
    acme = await nats.connect(accounts_server.url("producer-acme"))
    try:
        ack = await acme.jetstream().publish(ACME_TASKS, b'{"id": "a1"}')
    finally:
        await acme.close()
    assert ack.stream == ACME_STREAM
    assert await acme_queue(admin) == (1, 1, 0)  # ... and acme's, by acme's producer alone


async def test_globex_aiming_its_own_tasks_acks_at_acme_stores_nothing_of_acmes(
    admin: Client, globex: tuple[Client, list[str]]
) -> None:
    """JetStream answers a task stored with an ack on the task's reply subject: in globex's
    account, whatever subject it names, never in acme's queue or agentdash's subjects."""
    seen: list[Msg] = []

    async def keep(msg: Msg) -> None:
        seen.append(msg)

    for subject in REPLIES:  # as agentdash's account, where acme's queue is, sees them
        await admin.subscribe(subject, cb=keep)
    await admin.flush()
    producer, said = globex
    for reply in REPLIES:
        await producer.publish(GLOBEX_TASKS, b'{"id": "g"}', reply=reply)
    await producer.flush()

    # nats-server refuses a reply on JetStream's ack subjects outright; the rest are its
    # own tasks, stored.
    assert await told(producer, said, 1) == [f'nats: {REFUSED} with reply of "{ACK_REPLY.lower()}"']
    await eventually(lambda: globex_stored(admin, len(REPLIES) - 1))
    await admin.flush()  # what the server routed to agentdash's account has come by now
    assert [msg.subject for msg in seen] == []
    assert await acme_queue(admin) == (0, 0, 0)


@pytest.mark.parametrize("subject", ESCAPED)
async def test_escapes_in_the_subject_reach_no_queue_of_acmes(
    accounts_server: AccountsServer, admin: Client, subject: str
) -> None:
    """Each subject as a plain and as a headered publish (HPUB), written on the wire by hand."""
    body = b"x"
    headers = b"NATS/1.0\r\n\r\n"
    lines = (
        f"PUB {subject} {len(body)}\r\n".encode() + body + b"\r\n",
        f"HPUB {subject} {len(headers)} {len(headers + body)}\r\n".encode()
        + headers + body + b"\r\n",
    )  # fmt: skip
    for line in lines:
        said = await raw_publish(accounts_server.port, "producer-globex", line)
        assert len(said) == 1, said
        assert "Permissions Violation for Publish" in said[0], said
    assert await acme_queue(admin) == (0, 0, 0)
    stream = await admin.jetstream().stream_info(GLOBEX_STREAM)
    assert stream.state.messages == 0  # nor is it taken for one of globex's own


async def test_a_tab_in_the_subject_only_sets_a_reply_and_stores_nothing_of_acmes(
    accounts_server: AccountsServer, admin: Client
) -> None:
    """A tab separates the protocol's fields: globex's own subject, with acme's as the reply.
    globex's task is stored, and JetStream's ack of it stays in globex's account."""
    line = f"PUB {GLOBEX_TASKS}\t{ACME_TASKS} 1\r\nx\r\n".encode()
    assert await raw_publish(accounts_server.port, "producer-globex", line) == []
    await eventually(lambda: globex_stored(admin, 1))
    assert await acme_queue(admin) == (0, 0, 0)


async def test_acmes_producer_sees_none_of_globexs_acks(
    accounts_server: AccountsServer, admin: Client, globex: tuple[Client, list[str]]
) -> None:
    """JetStream's acks of globex's tasks name its stream and sequence: acme's producer may
    subscribe to its own inboxes alone, and globex's inboxes, even one acme chose, are
    globex's account's. Nor may it ask JetStream for globex's tasks."""
    said: list[str] = []

    async def keep(exc: Exception) -> None:
        said.append(str(exc))

    seen: list[Msg] = []

    async def sniff(msg: Msg) -> None:
        seen.append(msg)

    acme = await nats.connect(accounts_server.url("producer-acme"), error_cb=keep)
    try:
        refused = (">", "$JS.ACK.>", "$JS.API.>", "agent_tasks_globex.>", "_INBOX")
        for subject in (*refused, "_INBOX.>"):
            await acme.subscribe(subject, cb=sniff)
        await told(acme, said, len(refused))
        assert sorted(said) == sorted(
            f'nats: permissions violation for subscription to "{s.lower()}"' for s in refused
        )
        producer, _ = globex
        ack = await producer.jetstream().publish(GLOBEX_TASKS, b'{"id": "g1"}')
        assert ack.stream == GLOBEX_STREAM
        await producer.publish(GLOBEX_TASKS, b'{"id": "g2"}', reply="_INBOX.acme")
        await producer.flush()
        await acme.flush()  # whatever the server routed to acme has come before this PONG
        assert seen == []
        for subject in (f"$JS.API.STREAM.MSG.GET.{GLOBEX_STREAM}",
                        f"$JS.API.CONSUMER.MSG.NEXT.{GLOBEX_STREAM}.globex-coder"):  # fmt: skip
            with pytest.raises(nats.errors.TimeoutError):
                await acme.request(subject, b'{"seq": 1}', timeout=0.5)
        await told(acme, said, len(refused) + 2)
        assert all(REFUSED in line for line in said[len(refused) :]), said
    finally:
        await acme.close()
    consumer = await admin.jetstream().consumer_info(GLOBEX_STREAM, "globex-coder")
    assert (consumer.num_pending, consumer.num_ack_pending) == (2, 0)  # still globex's
