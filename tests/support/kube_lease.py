"""KubernetesLeases made for a test, on kmock's emulator over HTTP, with clocks that move only
when the test says so: `make_lease(holder, **options)`, closed after the test; `forge` writes
a field of the Lease as another program would; `refused` is what a lease counted as refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from kubernetes.aio.client import ApiClient, Configuration

from controller.coordination.kube_lease import KubernetesLease
from controller.runtime.metrics import Metrics
from tests.support import FakeClock
from tests.support.factories import config, pool
from tests.support.kmock import LEASES, Emulator

TTL = 10.0
MARGIN = 1.0
LEASE_PATH = "/apis/coordination.k8s.io/v1/namespaces/agentdash/leases/agentdash-leader"

MakeLease = Callable[..., KubernetesLease]


@pytest.fixture
def monotonic() -> FakeClock:
    return FakeClock(start=500.0)


@pytest.fixture
async def make_lease(
    cluster: Emulator, monotonic: FakeClock, clock: FakeClock
) -> AsyncIterator[MakeLease]:
    """`make_lease(holder, host=None, **options)`: the Lease agentdash/agentdash-leader as
    `holder` sees it, at TTL and MARGIN unless `options` say otherwise."""
    made: list[KubernetesLease] = []

    def make(holder: str, host: str | None = None, **options: Any) -> KubernetesLease:
        client = ApiClient(Configuration(host=host or str(cluster.url).rstrip("/")))
        lease = KubernetesLease(
            client,
            holder,
            namespace="agentdash",
            monotonic=monotonic,
            clock=clock,
            owns_client=True,
            **{"ttl": TTL, "margin_s": MARGIN, **options},
        )
        made.append(lease)
        return lease

    yield make
    for lease in made:
        await lease.close()


def stored(cluster: Emulator) -> dict[str, Any]:
    """The Lease's spec as the emulator holds it."""
    return dict(cluster.objects[LEASES, "agentdash", "agentdash-leader"]["spec"])


async def forge(cluster: Emulator, value: Any, field: str = "leaseDurationSeconds") -> None:
    """Write the Lease's `field` over HTTP, as `kubectl patch` or another program would
    (None: remove it)."""
    url = str(cluster.url).rstrip("/") + LEASE_PATH
    patch = {"spec": {field: value}}
    headers = {"Content-Type": "application/merge-patch+json"}
    async with (
        aiohttp.ClientSession() as session,
        session.patch(url, json=patch, headers=headers) as answer,
    ):
        assert answer.status == 200, await answer.text()
    if value is None:
        assert field not in stored(cluster)
    else:
        assert stored(cluster)[field] == value


def refused(lease: KubernetesLease) -> str:
    """The reads it counted as refused, as /metrics serves them."""
    exposed = Metrics(config({"web": pool("acme")}), lease.bad).render().decode()
    (line,) = [s for s in exposed.splitlines() if 'bad_messages_total{source="lease"}' in s]
    return line.rsplit(" ", 1)[1]
