"""A nats-server stalled (SIGSTOP: its connections open, nothing answers) under a daemon that
leads on the Kubernetes Lease, then let go on (SIGCONT). The queues cannot be read, so the
pool is held; the Lease is the API server's, which still answers, so the daemon leads on
throughout."""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.core.config import load_config
from controller.sources.jetstream_queues import ensure_queues
from tests.kube.conftest import FleetFile, RunDaemon
from tests.support import eventually
from tests.support.daemon import Daemon
from tests.support.kube_cluster import AgentdashCluster
from tests.support.loops import publish
from tests.support.processes import stalled

POOL = "stalled"


async def leading_on_three(
    kube: AgentdashCluster, fleet_file: FleetFile, run_daemon: RunDaemon, nc: Client
) -> Daemon:
    """A daemon leading on the Lease, its pool scaled to 3 for 3 tasks waiting."""
    kube.deployment(POOL, replicas=0)
    path = fleet_file(**{POOL: {}})
    config = load_config(path)
    await ensure_queues(nc, config)
    await publish(nc, config.subject(POOL), 3)
    daemon = run_daemon(path)
    await daemon.wait_health(lambda h: h["status"] == 200 and h["role"] == "leader", timeout=60)
    await eventually(lambda: kube.replicas(POOL) == 3, timeout=30)
    return daemon


def said(daemon: Daemon, about: str, level: str = "warning") -> list[str]:
    """The log lines of this level the daemon wrote so far that mention `about`."""
    lines: list[dict[str, Any]] = daemon.read()
    return [
        line["message"]
        for line in lines
        if line.get("level") == level and about in line.get("message", "")
    ]


async def test_a_handover_nats_does_not_answer_is_a_warning_that_says_why(
    kube: AgentdashCluster,
    fleet_file: FleetFile,
    run_daemon: RunDaemon,
    nc: Client,
    nats_server: NatsServer,
) -> None:
    daemon = await leading_on_three(kube, fleet_file, run_daemon, nc)
    with stalled(nats_server):
        await eventually(lambda: bool(said(daemon, "not saved to")), timeout=30, every=0.1)
        assert kube.replicas(POOL) == 3  # held: the queue cannot be read
    await eventually(
        lambda: bool(said(daemon, "saved to agentdash_history again", "info")),
        timeout=30,
        every=0.1,
    )
    failed = said(daemon, "not saved to")
    # It said "history not saved to agentdash_history: " and no more: a timeout's text is empty.
    assert all(line.endswith(": no answer within 2 s") for line in failed), failed
    assert daemon.stop() == 0
