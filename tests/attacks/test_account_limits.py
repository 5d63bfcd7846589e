"""worker-acme asks the server for more than its pods can need: connections, subscriptions,
big messages. Its account's limits (generated from the config) refuse it, and agentdash and
the other tenants are still served."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import nats
import nats.errors
import pytest
import yaml
from nats.aio.client import Client

from agentdash.nats_accounts import (
    PRODUCER_CONNECTIONS,
    WORKER_PAYLOAD,
    producer_limits,
    tenant_limits,
)
from controller.core.config import parse_config
from tests.support import eventually
from tests.support.accounts import AccountsServer
from tests.support.cli import EXAMPLE
from tests.support.daemon import Daemon

pytestmark = pytest.mark.e2e

ASKED = 1000
"""Connections the attacker tries to open: far more than acme's 16 pods need."""


@contextlib.asynccontextmanager
async def connections_until_refused(url: str, most: int) -> AsyncIterator[tuple[int, str]]:
    """Connect as `url`'s user until the server refuses (at most `most` times): how many it
    took, and why it refused ("" if it did not). They are closed on leaving."""
    held: list[Client] = []
    refused = ""
    try:
        while len(held) < most and not refused:
            try:
                held.append(
                    await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0)
                )
            except nats.errors.Error as exc:
                refused = str(exc)
        yield len(held), refused
    finally:
        for client in held:
            with contextlib.suppress(nats.errors.Error):
                await client.close()


async def cut_off_past(url: str, subscriptions: int) -> str:
    """Subscribe as `url`'s user once more than `subscriptions`: why the server cut it off."""
    client = await nats.connect(url, allow_reconnect=False)
    try:
        for n in range(subscriptions + 1):
            await client.subscribe(f"_INBOX.mine.{n}")  # its inboxes are all it may have
        await eventually(lambda: client.is_closed)
        return str(client.last_error)
    finally:
        await client.close()


async def still_served(accounts_server: AccountsServer, daemon: Daemon) -> None:
    """agentdash and another tenant still connect, and the daemon leads."""
    for user in ("agentdash", "worker-globex"):
        other = await nats.connect(accounts_server.url(user), allow_reconnect=False)
        await other.close()
    health = await daemon.health()
    assert health is not None
    assert (health["role"], health["status"]) == ("leader", 200)


async def test_a_worker_cannot_take_every_connection(
    accounts_server: AccountsServer, daemon: Daemon
) -> None:
    """With no limit, one tenant's password could open connections until the server had no
    file handle left, and agentdash could not connect again."""
    limit = tenant_limits(parse_config(yaml.safe_load(EXAMPLE.read_text())), "acme")
    async with connections_until_refused(accounts_server.url("worker-acme"), ASKED) as (
        taken,
        refused,
    ):
        assert "maximum account active connections" in refused
        assert taken == limit.connections
        await still_served(accounts_server, daemon)


async def test_a_worker_cannot_subscribe_without_end_or_send_a_big_message(
    accounts_server: AccountsServer,
) -> None:
    limit = tenant_limits(parse_config(yaml.safe_load(EXAMPLE.read_text())), "acme")
    cut = await cut_off_past(accounts_server.url("worker-acme"), limit.subscriptions)
    assert "maximum subscriptions exceeded" in cut

    worker = await nats.connect(accounts_server.url("worker-acme"), allow_reconnect=False)
    try:
        # A megabyte on its own usage subject: the daemon would drop it, but only once read.
        await worker.publish("agentdash.usage.acme", b"x" * (WORKER_PAYLOAD + 1))
        await eventually(lambda: worker.is_closed)
        assert "maximum payload" in str(worker.last_error)
    finally:
        await worker.close()


async def test_a_producer_cannot_take_every_connection_or_subscribe_without_end(
    accounts_server: AccountsServer, daemon: Daemon
) -> None:
    """With no limit, a producer's password opened as many connections and subscriptions as
    the server would take, as a worker's once could, until agentdash could not connect
    again (nats-server's own ceiling, 64K connections, is the whole server's). Each
    tenant's producers have limits of their own: acme's taking all of theirs leaves
    globex's producers theirs."""
    limit = producer_limits(PRODUCER_CONNECTIONS)
    async with connections_until_refused(
        accounts_server.url("producer-acme"), limit.connections + 1
    ) as (taken, refused):
        assert "maximum account active connections" in refused
        assert taken == limit.connections
        await still_served(accounts_server, daemon)
        globex = await nats.connect(accounts_server.url("producer-globex"), allow_reconnect=False)
        await globex.close()

    cut = await cut_off_past(accounts_server.url("producer-acme"), limit.subscriptions)
    assert "maximum subscriptions exceeded" in cut


@pytest.mark.parametrize("user", ["worker-acme", "producer-acme"])
async def test_an_identity_cannot_have_the_server_hold_what_it_sends_itself(
    accounts_server: AccountsServer, user: str
) -> None:
    """A connection that subscribes and never reads has the server hold what comes for it,
    up to 64 MiB. Fed by its own publishes, ten of worker-acme's took the server from 18 MB
    to 1.3 GB in 10 s (forty: 3.9 GB); its 80 connections could take every tenant's server
    down. Each identity may publish only where its imports reach, and subscribe only to its
    inboxes, so nothing it sends comes back to it."""
    sink = await nats.connect(accounts_server.url(user), allow_reconnect=False)
    source = await nats.connect(accounts_server.url(user), allow_reconnect=False)
    try:
        subjects = ("mine", "_INBOX.mine", "agentdash.usage.acme", "agent_tasks_acme.acme-research")
        held = [await sink.subscribe(subject) for subject in subjects]
        await sink.flush()
        for subject in subjects:
            await source.publish(subject, b"x" * 1000)
        await source.flush()  # the server has routed them ...
        await sink.flush()  # ... and sent the sink whatever it routed to it, before this PONG
        assert [sub.pending_msgs for sub in held] == [0] * len(subjects)
        # The server's refusal was once still unread when flush() returned (CI, a loaded
        # machine): it is polled for, with a deadline.
        await eventually(lambda: "permissions violation for publish" in str(source.last_error))
        assert not source.is_closed  # refused, not cut: its own work goes on
    finally:
        await sink.close()
        await source.close()
