"""What `agentdash --controller-only` serves on /metrics, as Prometheus and the people who read
it see it: real processes on a real NATS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.core.config import load_config
from tests.support import eventually
from tests.support.daemon import Daemon

pytestmark = pytest.mark.e2e

WAITED = 'agentdash_pool_oldest_task_age_seconds{pool="acme-research",tier="enterprise"} '


async def test_the_oldest_tasks_age_is_not_served_while_the_queues_cannot_be_read(
    fleet_config: Path, nats_server: NatsServer, nc: Client, daemons: list[Daemon]
) -> None:
    """NATS away: how long a task has waited is not known (a worker may have taken it), as
    its pool's lag is not: every pool's series goes, rather than say that none waits, or climb
    on a guess past the tier's target and page for a wait no one measured."""
    daemon = Daemon(fleet_config)
    daemons.append(daemon)
    await daemon.wait_health(lambda h: h["status"] == 200)
    config = load_config(fleet_config)
    await nc.jetstream().publish(config.subject("acme-research"), json.dumps({}).encode())

    async def served() -> bool:
        return WAITED in await daemon.metrics()

    await eventually(served, timeout=15)
    nats_server.stop()
    await daemon.wait_health(lambda h: "queue" in h["problems"])

    async def gone() -> bool:
        page = await daemon.metrics()
        return "agentdash_pool_oldest_task_age_seconds{" not in page and (
            "agentdash_pool_lag_tasks{" not in page
        )

    await eventually(gone, timeout=10)
