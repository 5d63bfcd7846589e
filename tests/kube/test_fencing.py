"""A deposed leader's scale that reaches the real API server late is refused there (409).

Two controllers elect their leader on the real Lease. The first leads and decides a scale;
the network holds its PATCH back (tests.support.stalling_proxy) until its call has given up
and its lease has run out. The second takes over and scales. Then the held PATCH arrives:
it names the resourceVersion it was decided on, which is no longer the Deployment's, and the
API server refuses it. The replicas stay the new leader's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from nats.aio.client import Client

from controller.actuators.kubernetes import DeploymentScaler
from controller.coordination.kube_lease import KubernetesLease
from controller.core.config import Config
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.usage import TokenLedger
from tests.kube.conftest import AT_ONCE
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool
from tests.support.kube_cluster import CONTROLLER_NAMESPACE, POOLS_NAMESPACE, AgentdashCluster
from tests.support.loops import publish
from tests.support.stalling_proxy import StallingProxy, stalling_proxy

POOL = "fenced"
SCALE_PATH = f"/apis/apps/v1/namespaces/{POOLS_NAMESPACE}/deployments/{POOL}/scale"
TTL = 4.0


@pytest.fixture
def fleet() -> Config:
    return config({POOL: pool("acme", behavior=AT_ONCE, min_replicas=0)})


@pytest.fixture
async def proxy(kube: AgentdashCluster) -> AsyncIterator[StallingProxy]:
    async with stalling_proxy(kube.plane.url, kube.plane.ca_file) as running:
        yield running


def token(kube: AgentdashCluster) -> str:
    """The ServiceAccount's token, as deploy/'s RBAC grants it (from its kubeconfig)."""
    kubeconfig = yaml.safe_load(kube.kubeconfig.read_text())
    return str(kubeconfig["users"][0]["user"]["token"])


async def controller(
    fleet: Config,
    lag: JetStreamLagSource,
    clock: FakeClock,
    holder: str,
    *,
    kubeconfig: Path,
    lease_kubeconfig: Path,
) -> Reconciler:
    scaler = await DeploymentScaler.connect(fleet, kubeconfig=str(kubeconfig), deadline_s=20.0)
    lease = await KubernetesLease.connect(
        holder, namespace=CONTROLLER_NAMESPACE, kubeconfig=str(lease_kubeconfig), ttl=TTL
    )
    return Reconciler(
        fleet, lag, TokenLedger(fleet), scaler, clock=clock, lease=lease, call_deadline=20.0
    )


async def test_a_deposed_leaders_late_scale_is_refused_by_the_api_server(
    kube: AgentdashCluster,
    proxy: StallingProxy,
    nc: Client,
    fleet: Config,
    lag: JetStreamLagSource,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    kube.forget_lease()
    kube.deployment(POOL, replicas=5)
    # The old leader's scale calls go through the proxy; its lease goes straight to the API.
    through_proxy = proxy.kubeconfig(tmp_path / "proxied.kubeconfig", token(kube))
    old = await controller(fleet, lag, clock, "old", kubeconfig=through_proxy,
                           lease_kubeconfig=kube.kubeconfig)  # fmt: skip
    new = await controller(fleet, lag, clock, "new", kubeconfig=kube.kubeconfig,
                           lease_kubeconfig=kube.kubeconfig)  # fmt: skip
    try:
        await publish(nc, fleet.subject(POOL), 2)
        proxy.hold("PATCH", SCALE_PATH)
        await old.tick(settle=False)  # leads, wants 5 -> 2; its PATCH is held on the way
        assert old.leading
        await eventually(lambda: proxy.holding == 1, timeout=10)
        await old.settle()  # it gives up by what is surely left of its lease, and stalls
        assert "scale fenced" in old.problems
        assert kube.replicas(POOL) == 5

        async def new_leads() -> bool:  # once the old lease has run out
            clock.advance(1)
            await new.tick()
            return new.leading

        await eventually(new_leads, timeout=3 * TTL, every=0.2)
        await publish(nc, fleet.subject(POOL), 5)  # 7 waiting now

        async def new_scaled() -> bool:
            clock.advance(1)
            await new.tick()
            return kube.replicas(POOL) == 7

        await eventually(new_scaled, timeout=20, every=0.1)

        (late,) = await proxy.release()  # the old leader's 5 -> 2 arrives at last

        assert late.status == 409
        assert json.loads(late.body)["reason"] == "Conflict"
        sent = json.loads(late.sent)
        assert sent["spec"] == {"replicas": 2}
        assert sent["metadata"]["resourceVersion"]  # the version the old leader decided on
        assert kube.replicas(POOL) == 7  # the new leader's
    finally:
        for loop in (old, new):
            await loop.actuator.close()
            assert isinstance(loop.lease, KubernetesLease)
            await loop.lease.release()
            await loop.lease.close()
