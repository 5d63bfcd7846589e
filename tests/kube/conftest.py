"""One real Kubernetes API server for the whole session (etcd and kube-apiserver 1.20.2 from
`make kube`), with agentdash installed from deploy/; and the daemon run against it as the
ServiceAccount of deploy/rbac.yaml. The tests skip, saying how to build the binaries, where
they are absent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml

from agentdash.nats_server import NatsServer
from tests.support.daemon import Daemon
from tests.support.kube import ControlPlane, binaries_dir, missing_binaries
from tests.support.kube_cluster import CONTROLLER_NAMESPACE, POOLS_NAMESPACE, AgentdashCluster

AT_ONCE = {
    "scale_up": {"stabilization_seconds": 0, "max_pods": 10, "period_seconds": 1},
    "scale_down": {"stabilization_seconds": 0, "max_pods": 10, "period_seconds": 1},
}

FleetFile = Callable[..., Path]


class RunDaemon(Protocol):
    def __call__(self, config: Path, *, standby: bool = False) -> Daemon: ...


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
