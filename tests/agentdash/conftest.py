"""Fixtures of the product's tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from nats.aio.client import Client

from agentdash.cli import ENVIRONMENT
from agentdash.nats_server import NatsServer
from controller.core.config import load_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support.cli import EXAMPLE
from tests.support.daemon import Daemon
from tests.support.kmock import cluster, kmock_options

__all__ = ["cluster", "kmock_options"]


@pytest.fixture
def no_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the shell that runs the tests has set, the test starts with none of
    agentdash's environment variables."""
    for variable, _ in ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Logging as it was before the test (`set_log_level` sets the root logger's handlers)."""
    root, ours = logging.getLogger(), logging.getLogger("agentdash")
    handlers, level, our_level = list(root.handlers), root.level, ours.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    ours.setLevel(our_level)


@pytest.fixture
def bare_config(tmp_path: Path, nats_server: NatsServer) -> Path:
    """The example fleet on this test's NATS, whose stream and consumers do not exist yet."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nats"] = {"url": nats_server.url}
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
async def fleet_config(bare_config: Path, nc: Client) -> Path:
    """The example fleet with its stream and consumers in place, as in production."""
    await ensure_queues(nc, load_config(bare_config))
    return bare_config


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()
