"""A Kubernetes API emulator (kmock) over real HTTP, and scalers that talk to it with the real
client. Objects are preloaded into `cluster.objects`; changes a watch must see are sent over
HTTP (`send`), since only those reach the emulator's watch streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from kmock import KubernetesEmulator
from kubernetes.aio.client import ApiClient, Configuration

from controller.actuators.kubernetes import DeploymentScaler
from controller.core.config import Config
from tests.support import FakeClock
from tests.support.kmock import MakeScaler, Naps, cluster, kmock_options, web_fleet

__all__ = ["cluster", "kmock_options"]  # fixtures shared with the Lease's tests


@pytest.fixture
def naps() -> Naps:
    return Naps()


@pytest.fixture
async def make_scaler(
    cluster: KubernetesEmulator, naps: Naps, clock: FakeClock
) -> AsyncIterator[MakeScaler]:
    made: list[DeploymentScaler] = []

    def make(cfg: Config | None = None, *, host: str | None = None, **options: Any) -> Any:
        client = ApiClient(Configuration(host=host or str(cluster.url).rstrip("/")))
        # A long deadline: a test of the loop's own bounds must not race the scaler's.
        options = {
            "qps": 1000.0,
            "burst": 1000,
            "sync_timeout_s": 5.0,
            "deadline_s": 60.0,
            **options,
        }
        scaler = DeploymentScaler(
            cfg or web_fleet(),
            client,
            sleep=naps,
            jitter=lambda: 0.5,
            clock=clock,
            owns_client=True,
            **options,
        )
        made.append(scaler)
        return scaler

    yield make
    for scaler in made:
        await scaler.close()
