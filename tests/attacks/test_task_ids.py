"""A producer for one tenant reuses another tenant's `Nats-Msg-Id`, on a real nats-server
running deploy/nats-accounts.conf as shipped, with the example's queues. JetStream drops a
task whose ID its stream stored in the last 2 minutes, whatever the subject: the example gives
each tenant a stream of its own, so globex's IDs drop none of acme's tasks. Found by attack:
with every pool in one stream, acme's `task-1` after globex's was answered "duplicate" and
never stored."""

from __future__ import annotations

import nats
import pytest
from nats.aio.client import Client

from controller.core.config import load_config
from tests.support.accounts import AccountsServer
from tests.support.cli import EXAMPLE

pytestmark = pytest.mark.e2e


async def test_globex_reusing_acmes_task_id_drops_no_task_of_acme(
    accounts_server: AccountsServer, admin: Client, worker: Client
) -> None:
    """`admin` made the example's queues; `worker` is acme's."""
    config = load_config(EXAMPLE)
    globex = await nats.connect(accounts_server.url("producer-globex"))
    acme = await nats.connect(accounts_server.url("producer-acme"))
    try:
        same = {"Nats-Msg-Id": "task-1"}
        theirs = await globex.jetstream().publish(
            config.subject("globex-coder"), b"globex's", headers=same
        )
        ours = await acme.jetstream().publish(
            config.subject("acme-research"), b"acme's", headers=same
        )
    finally:
        await globex.close()
        await acme.close()
    assert not theirs.duplicate
    assert not ours.duplicate  # stored, not taken for globex's
    stream = config.pools["acme-research"].queue.stream
    info = await admin.jetstream().consumer_info(stream, "acme-research")
    assert info.num_pending == 1
    tasks = await worker.jetstream().pull_subscribe_bind("acme-research", stream)
    [task] = await tasks.fetch(1, timeout=5)
    assert task.data == b"acme's"  # acme's worker gets its task
    await task.ack_sync()
