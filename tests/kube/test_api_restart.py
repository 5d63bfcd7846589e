"""The real API server killed (`kill -9`) while a pool's queue grows, and started again on
its port: the pool is scaled once the server is back. That it is scaled as the Deployments
can be read again, not after a backoff grown through the outage (the Deployments' list retried
every 30 s at most, and the loop's own tick backoff on top: 17 to 24 s after a 45 s outage),
is tests/controller/actuators/kubernetes/test_faults.py's, on the emulated API, without a
clock."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client

from tests.kube.conftest import Leading
from tests.support import eventually
from tests.support.kube_cluster import AgentdashCluster
from tests.support.loops import publish

POOL = "restarted"
OUTAGE_S = 35.0
"""Long enough for the list's backoff to pass 16 s (1, 2, 4, 8, 16, ... from the first
failure): the next try, at 30 s, came 20 s after the server was back."""


async def test_a_pool_is_scaled_soon_after_a_killed_api_server_is_back(
    kube: AgentdashCluster, leading: Leading, nc: Client
) -> None:
    led = await leading(POOL, 2)
    daemon, config = led.daemon, led.config

    kube.plane.kill("kube-apiserver")
    try:
        await publish(nc, config.subject(POOL), 3)  # 5 waiting now, the cluster out of reach
        await daemon.wait_health(lambda h: h["status"] == 503, timeout=30)
        await asyncio.sleep(OUTAGE_S)  # the fault itself: the API server stays away this long
    finally:
        kube.plane.start_again("kube-apiserver")

    await eventually(lambda: kube.replicas(POOL) == 5, timeout=60, every=0.1)  # a hang's bound
    await daemon.wait_health(lambda h: h["status"] == 200 and h["role"] == "leader", timeout=30)
    assert daemon.process.poll() is None
