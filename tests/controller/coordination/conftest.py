"""The Kubernetes Lease (controller/coordination/kube_lease.py) is tested on kmock's emulator,
as the actuator is: its fixtures come from there (tests.support.kube_lease makes the leases)."""

from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client

from controller.coordination.shared import SharedOverrides
from tests.support.kmock import cluster, kmock_options
from tests.support.kube_lease import make_lease, monotonic

__all__ = ["cluster", "kmock_options", "make_lease", "monotonic"]


@pytest.fixture
async def shared(nc: Client) -> AsyncIterator[list[SharedOverrides]]:
    """SharedOverrides made by the test (tests.support.shared_kv.join), stopped after it."""
    made: list[SharedOverrides] = []
    yield made
    for one in made:
        await one.stop()
