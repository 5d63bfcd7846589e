"""What every attack starts from: agentdash's queues on the shipped accounts server, the
installed daemon leading, and a connection as worker-acme."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
import yaml
from nats.aio.client import Client

from controller.core.config import parse_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support.accounts import AccountsServer
from tests.support.cli import EXAMPLE
from tests.support.daemon import Daemon


@pytest.fixture
async def admin(accounts_server: AccountsServer) -> AsyncIterator[Client]:
    """agentdash's own identity, to set up the queues and to look at its state."""
    client = await nats.connect(accounts_server.url("agentdash"))
    await ensure_queues(client, parse_config(yaml.safe_load(EXAMPLE.read_text())))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def daemon(accounts_server: AccountsServer, admin: Client) -> AsyncIterator[Daemon]:
    daemon = Daemon(EXAMPLE, "--nats-url", accounts_server.url("agentdash"))
    try:
        await daemon.wait_health(lambda h: h["role"] == "leader" and h["status"] == 200)
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
async def worker(accounts_server: AccountsServer) -> AsyncIterator[Client]:
    client = await nats.connect(accounts_server.url("worker-acme"))
    try:
        yield client
    finally:
        await client.close()
