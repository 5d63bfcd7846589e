"""One real Kubernetes API server for the whole session (etcd and kube-apiserver 1.20.2 from
`make kube`), with agentdash installed from deploy/; and the daemon run against it as the
ServiceAccount of deploy/rbac.yaml. The tests skip, saying how to build the binaries, where
they are absent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.core.config import Config, load_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually
from tests.support.daemon import Daemon
from tests.support.kube import ControlPlane, binaries_dir, missing_binaries
from tests.support.kube_cluster import CONTROLLER_NAMESPACE, POOLS_NAMESPACE, AgentdashCluster
from tests.support.loops import publish

AT_ONCE = {
    "scale_up": {"stabilization_seconds": 0, "max_pods": 10, "period_seconds": 1},
    "scale_down": {"stabilization_seconds": 0, "max_pods": 10, "period_seconds": 1},
}

FleetFile = Callable[..., Path]


class RunDaemon(Protocol):
    def __call__(self, config: Path, *, standby: bool = False) -> Daemon: ...


@dataclass(frozen=True)
class Led:
    """A daemon leading, on this config (read from `path`)."""

    daemon: Daemon
    config: Config
    path: Path


class Leading(Protocol):
    async def __call__(self, pool: str, tasks: int) -> Led: ...


@pytest.fixture(scope="session")
def kube() -> Iterator[AgentdashCluster]:
    where = binaries_dir()
    reason = missing_binaries(where)
    if reason is not None:
        pytest.skip(reason)
    with ControlPlane(where) as plane:
        cluster = AgentdashCluster(plane).install()
        try:
            yield cluster
        finally:
            cluster.close()


@pytest.fixture
def fleet_file(tmp_path: Path, nats_server: NatsServer) -> FleetFile:
    """`fleet_file(name=fields, ...)`: an agentdash.yaml on this test's NATS, electing its
    leader on the Kubernetes Lease of deploy/options/, with one pool per name, each on the
    Deployment and the consumer of that name, scaling at once."""

    def write(**pools: dict[str, Any]) -> Path:
        data = {
            "nats": {"url": nats_server.url},
            "tiers": {"enterprise": {"priority": 1000}},
            "tenants": {"acme": {"tier": "enterprise"}},
            "controller": {"interval_seconds": 1},
            "kubernetes": {"lease": {"namespace": CONTROLLER_NAMESPACE}},
            "pools": {
                name: {
                    "tenant": "acme",
                    "deployment": {"namespace": POOLS_NAMESPACE, "name": name},
                    "queue": {"stream": "AGENT_TASKS", "consumer": name},
                    "target_lag_per_replica": 1,
                    "min_replicas": 0,
                    "max_replicas": 10,
                    "behavior": AT_ONCE,
                    **fields,
                }
                for name, fields in pools.items()
            },
        }
        path = tmp_path / "agentdash.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


@pytest.fixture
def run_daemon(kube: AgentdashCluster) -> Iterator[RunDaemon]:
    """`agentdash --controller-only` on the real API server, as deploy/'s ServiceAccount."""
    started: list[Daemon] = []

    def run(config: Path, *, standby: bool = False) -> Daemon:
        """`standby`: beside a daemon that runs, whose lease stays."""
        if not standby:
            kube.forget_lease()  # whatever an earlier test's daemon left
        daemon = Daemon(
            config,
            *("--cluster", "kubernetes", "--kubeconfig", str(kube.kubeconfig)),
            *("--lease-ttl", "10"),  # the real server on 2 shared cores: no 0.7 s deadlines
        )
        started.append(daemon)
        return daemon

    yield run
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()


@pytest.fixture
def leading(
    kube: AgentdashCluster, fleet_file: FleetFile, run_daemon: RunDaemon, nc: Client
) -> Leading:
    """`await leading(pool, tasks)`: a daemon leading on the Lease, with `pool` alone (its
    Deployment at 0, a pool of its own per test: the API server serves the whole session)
    scaled to as many replicas as `tasks` waiting."""

    async def lead(pool: str, tasks: int) -> Led:
        kube.deployment(pool, replicas=0)
        path = fleet_file(**{pool: {}})
        config = load_config(path)
        await ensure_queues(nc, config)
        await publish(nc, config.subject(pool), tasks)
        daemon = run_daemon(path)
        await daemon.wait_health(lambda h: h["status"] == 200 and h["role"] == "leader", timeout=60)
        await eventually(lambda: kube.replicas(pool) == tasks, timeout=30)
        return Led(daemon, config, path)

    return lead
