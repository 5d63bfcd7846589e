"""worker-acme asks the server for more than its pods can need: connections, subscriptions,
big messages. Its account's limits (generated from the config) refuse it, and agentdash and
the other tenants are still served."""

from __future__ import annotations

import contextlib

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


async def test_a_worker_cannot_take_every_connection(
    accounts_server: AccountsServer, daemon: Daemon
) -> None:
    """With no limit, one tenant's password could open connections until the server had no
    file handle left, and agentdash could not connect again."""
    limit = tenant_limits(parse_config(yaml.safe_load(EXAMPLE.read_text())), "acme")
    held: list[Client] = []
    refused = None
    try:
        while len(held) < ASKED and refused is None:
            try:
                held.append(
                    await nats.connect(
                        accounts_server.url("worker-acme"),
                        allow_reconnect=False,
                        max_reconnect_attempts=0,
                    )
                )
            except nats.errors.Error as exc:
                refused = str(exc)
        assert refused is not None
        assert "maximum account active connections" in refused
        assert len(held) == limit.connections
        # Meanwhile agentdash and another tenant still connect, and the daemon leads.
        for user in ("agentdash", "worker-globex"):
            other = await nats.connect(accounts_server.url(user), allow_reconnect=False)
            await other.close()
        health = await daemon.health()
        assert health is not None
        assert (health["role"], health["status"]) == ("leader", 200)
    finally:
        for client in held:
            with contextlib.suppress(nats.errors.Error):
                await client.close()


async def test_a_worker_cannot_subscribe_without_end_or_send_a_big_message(
    accounts_server: AccountsServer,
) -> None:
    limit = tenant_limits(parse_config(yaml.safe_load(EXAMPLE.read_text())), "acme")
    worker = await nats.connect(accounts_server.url("worker-acme"), allow_reconnect=False)
    try:
        for n in range(limit.subscriptions + 1):
            await worker.subscribe(f"mine.{n}")
        await eventually(lambda: worker.is_closed)
        assert "maximum subscriptions exceeded" in str(worker.last_error)
    finally:
        await worker.close()

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
    """The producers' account had no limit: its one password opened as many connections and
    subscriptions as the server would take, as a worker's once could, until agentdash could
    not connect again (nats-server's own ceiling, 64K connections, is the whole server's)."""
    limit = producer_limits(PRODUCER_CONNECTIONS)
    held: list[Client] = []
    refused = None
    try:
        while len(held) <= limit.connections and refused is None:
            try:
                held.append(
                    await nats.connect(
                        accounts_server.url("producer"),
                        allow_reconnect=False,
                        max_reconnect_attempts=0,
                    )
                )
            except nats.errors.Error as exc:
                refused = str(exc)
        assert refused is not None
        assert "maximum account active connections" in refused
        assert len(held) == limit.connections
        for user in ("agentdash", "worker-globex"):
            other = await nats.connect(accounts_server.url(user), allow_reconnect=False)
            await other.close()
        health = await daemon.health()
        assert health is not None
        assert (health["role"], health["status"]) == ("leader", 200)
    finally:
        for client in held:
            with contextlib.suppress(nats.errors.Error):
                await client.close()

    producer = await nats.connect(accounts_server.url("producer"), allow_reconnect=False)
    try:
        for n in range(limit.subscriptions + 1):
            await producer.subscribe(f"mine.{n}")
        await eventually(lambda: producer.is_closed)
        assert "maximum subscriptions exceeded" in str(producer.last_error)
    finally:
        await producer.close()
