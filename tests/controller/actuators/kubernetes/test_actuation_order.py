"""Many pools changing at once, on the emulated API and a real JetStream: every scale PATCH
goes before any annotation or Event (they share one rate limit), the API never sees more
than the budget, and each pool's reason still lands, by its fence or not at all."""

from __future__ import annotations

import asyncio
import json

import pytest
from kmock import Request
from nats.aio.client import Client

from controller.actuators.kubernetes import ANNOTATION
from controller.core.config import Config
from controller.core.model import Reason, ScaleDecision
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.usage import TokenLedger
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool
from tests.support.kmock import (
    DEPLOYMENTS,
    Emulator,
    MakeScaler,
    deployment,
)
from tests.support.records import replaced

POOLS = 12
QPS, BURST = 20.0, 4
AT_ONCE = {
    "scale_up": {"stabilization_seconds": 0, "max_pods": 100, "period_seconds": 1},
    "scale_down": {"stabilization_seconds": 0, "max_pods": 100, "period_seconds": 1},
}


@pytest.fixture
def fleet() -> Config:
    return config({f"pool-{i}": pool("acme", behavior=AT_ONCE) for i in range(POOLS)})


def record_writes(cluster: Emulator) -> list[tuple[float, str, str]]:
    """(event loop time, kind, pool) of each write, in the order the API received them."""
    writes: list[tuple[float, str, str]] = []

    async def seen(request: Request) -> None:
        path = request.url.path
        if request.method == "PATCH" and path.endswith("/scale"):
            writes.append((asyncio.get_running_loop().time(), "scale", path.split("/")[-2]))
        elif request.method == "PATCH":
            writes.append((asyncio.get_running_loop().time(), "annotate", path.split("/")[-1]))
        elif request.method == "POST" and path.endswith("/events"):
            name = request.data["involvedObject"]["name"]
            writes.append((asyncio.get_running_loop().time(), "event", name))

    cluster.faults.append(seen)
    return writes


async def test_every_scale_goes_before_any_reason_and_within_the_rate_limit(
    cluster: Emulator,
    make_scaler: MakeScaler,
    nc: Client,
    fleet: Config,
    lag: JetStreamLagSource,
    clock: FakeClock,
) -> None:
    for name in fleet.pools:
        cluster.objects[DEPLOYMENTS, "agents", name] = deployment(name, replicas=1)
    scaler = make_scaler(fleet, qps=QPS, burst=BURST, deadline_s=30.0, annotate=True)
    await scaler.observe()  # the watches are up (they too count against the burst)
    writes = record_writes(cluster)
    loop = Reconciler(fleet, lag, TokenLedger(fleet), scaler, clock=clock, call_deadline=30.0)
    for name in fleet.pools:
        for i in range(3):
            await nc.jetstream().publish(fleet.subject(name), json.dumps({"id": i}).encode())

    await asyncio.wait_for(loop.tick(), timeout=30)  # every pool wants 3: 12 changes at once

    await eventually(lambda: len(writes) == 3 * POOLS, timeout=30)
    kinds = [kind for _, kind, _ in writes]
    assert kinds == ["scale"] * POOLS + ["annotate", "event"] * POOLS
    assert {name for _, _, name in writes} == set(fleet.pools)
    for name in fleet.pools:
        assert cluster.objects[DEPLOYMENTS, "agents", name]["spec"]["replicas"] == 3
        annotations = cluster.objects[DEPLOYMENTS, "agents", name]["metadata"]["annotations"]
        said = json.loads(annotations[ANNOTATION])
        assert (said["from"], said["desired"], said["rule"]) == (1, 3, "demand")
    # Never more than the budget: a burst, then QPS a second (and a request of slack for
    # the limiter's own rounding), over every stretch of the run.
    times = [at for at, _, _ in writes]
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            assert j - i + 1 <= BURST + QPS * (times[j] - start) + 1
    assert scaler.untold == 0


async def test_a_reason_said_after_its_call_goes_only_while_the_fence_allows(
    cluster: Emulator, make_scaler: MakeScaler, fleet: Config
) -> None:
    """The lease may be gone by the time a queued reason's turn comes: the fence is asked
    then, and a reason it refuses is never sent."""
    names = list(fleet.pools)[:2]
    for name in names:
        cluster.objects[DEPLOYMENTS, "agents", name] = deployment(name, replicas=1)
    scaler = make_scaler(fleet, deadline_s=30.0, annotate=True)
    await scaler.observe()
    writes = record_writes(cluster)
    why = ScaleDecision(
        pool=names[0],
        tenant="acme",
        current=1,
        desired=4,
        reasons=(Reason(rule="demand", template="lag 4"),),
        recommendation=4,
    )

    def leading() -> float:
        return asyncio.get_running_loop().time() + 5.0

    asked = []

    def lost() -> float | None:
        """The lease holds for the two scales, and is gone by the time the reasons go."""
        asked.append(True)
        return leading() if len(asked) <= len(names) else None

    await asyncio.gather(
        *(scaler.scale_with_reason(name, 4, replaced(why, pool=name), 0.0, lost) for name in names)
    )
    await eventually(lambda: scaler.untold == 2)

    # Both scaled. The first to land queued its reason behind the other's scale, and the
    # other behind the first's reason; by their turn the lease was gone: neither was sent.
    assert sorted(name for _, kind, name in writes if kind == "scale") == sorted(names)
    assert [kind for _, kind, _ in writes] == ["scale", "scale"]

    await asyncio.gather(
        *(scaler.scale_with_reason(name, 6, replaced(why, pool=name, current=4, desired=6), 0.0,
                                    leading)
          for name in names)
    )  # fmt: skip
    await eventually(lambda: len(writes) == 8)
    assert [kind for _, kind, _ in writes[2:]] == ["scale", "scale"] + ["annotate", "event"] * 2
    assert scaler.untold == 2
