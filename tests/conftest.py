"""Shared fixtures: a real nats-server with JetStream per test, on a free port."""

from __future__ import annotations

import os
import subprocess

# In-process tests run the plain Python modules, even where `make accel` built compiled ones
# (tests/controller/simulate/test_accel.py compares the two in a subprocess).
os.environ["AGENTDASH_PURE"] = "1"

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from hypothesis import settings
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.core.config import Config
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from tests.support import FakeClock
from tests.support.accounts import AccountsServer
from tests.support.strategies import FAST_LANE


def pytest_configure(config: pytest.Config) -> None:
    if config.option.markexpr == FAST_LANE:
        settings.load_profile("fast")  # before the test modules, whose decorators read it


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts a nats-server or uses the real API server (tests/kube), through any
    fixture, is end to end (`-m e2e`)."""
    for item in items:
        if {"nats_server", "kube"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def in_process_only(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast lane (`-m "not e2e"`) promises in-process tests: there, a test that starts a
    process fails, naming the marker it lacks, so the lane cannot drift slow unnoticed."""
    if request.config.option.markexpr != FAST_LANE:
        return

    def refuse(self: subprocess.Popen[bytes], args: object, *rest: object, **kw: object) -> None:
        raise AssertionError(f"a fast-lane test started {args!r}: mark it @pytest.mark.e2e")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats", auth=False).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def lag(nc: Client, fleet: Config) -> AsyncIterator[JetStreamLagSource]:
    """The queues of the test's `fleet` (a fixture of its module) on the real nats-server,
    read as the daemon reads them."""
    await ensure_queues(nc, fleet)
    source = JetStreamLagSource(nc, fleet)
    await source.start()
    yield source
    await source.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def private_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every agentdash a test starts keeps its overrides in a fresh place, never the user's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def accounts_server(tmp_path: Path) -> Iterator[AccountsServer]:
    """A nats-server running deploy/nats-accounts.conf as shipped."""
    server = AccountsServer(tmp_path)
    try:
        yield server
    finally:
        server.stop()
