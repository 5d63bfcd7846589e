"""The client's budget, on the emulated API: calls are served by what they are for, not by
arrival; a write whose turn comes with less than a round trip of its deadline left is not
sent; a failure keeps the server's status."""

from __future__ import annotations

import asyncio
import re

import pytest
from kmock import Request

from controller.actuators.base import Fence
from controller.actuators.kubernetes import PoolUnavailable
from controller.coordination.kube_lease import KubernetesLease
from controller.core.model import Reason, ScaleDecision
from tests.support import eventually
from tests.support.factories import config, pool
from tests.support.kmock import (
    DEPLOYMENTS,
    Emulator,
    MakeScaler,
    Refused,
    crowd,
    deployment,
    latency,
    observe_until,
)
from tests.support.records import replaced

SCALE_PATH = "/apis/apps/v1/namespaces/agents/deployments/{}/scale"
GROW = ScaleDecision(
    pool="web",
    tenant="acme",
    current=2,
    desired=5,
    reasons=(Reason(rule="demand", template="lag 5"),),
    recommendation=5,
)


def arrivals(cluster: Emulator) -> list[str]:
    """What reached the API, in order: `scale <pool>` for a scale PATCH, `lease` for a
    write of the Lease."""
    seen: list[str] = []

    async def record(request: Request) -> None:
        path = request.url.path
        if request.method == "PATCH" and path.endswith("/scale"):
            seen.append(f"scale {path.split('/')[-2]}")
        elif "/leases" in path and request.method in ("POST", "PATCH"):
            seen.append("lease")

    cluster.faults.append(record)
    return seen


@pytest.fixture
def many(cluster: Emulator) -> list[str]:
    names = [f"pool-{i:04d}" for i in range(1000)]
    for name in names:
        cluster.objects[DEPLOYMENTS, "agents", name] = deployment(name, replicas=1)
    return names


async def test_the_lease_renews_while_a_thousand_scale_calls_wait(
    cluster: Emulator, make_scaler: MakeScaler, many: list[str]
) -> None:
    fleet = config({name: pool("acme") for name in many})
    # One token a second: a busy machine's pause between counting the calls granted and the
    # lease asking does not let more than one more through.
    scaler = make_scaler(fleet, qps=1.0, burst=10)
    await scaler.observe()
    seen = arrivals(cluster)
    calls = [asyncio.ensure_future(scaler.scale(name, 2)) for name in many]
    try:
        await eventually(lambda: scaler.api.budget.waiting >= 990)
        # The Lease on the scaler's own client and budget: it takes the lease at once. Its
        # deadline bounds a hang, not a speed (a third of the TTL, 3.3 s, was cut once in a
        # full run on a busy machine); behind the scale calls it would wait 990 s at 1 qps.
        lease = KubernetesLease(
            scaler.api.client, "me", namespace="agents", api=scaler.api, deadline_s=60.0
        )
        granted = len(many) - scaler.api.budget.waiting  # had their turn before it asked

        assert await asyncio.wait_for(lease.renew(), 30)
        assert lease.leading
        assert await lease.renew()  # and renews it, the scale calls still waiting

        assert seen.count("lease") == 2
        # Ahead of every scale call that was still waiting (and of one granted meanwhile).
        assert seen.index("lease") <= granted + 1
        assert scaler.api.budget.waiting >= 980
    finally:
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)


async def test_a_wake_from_zero_goes_ahead_of_queued_scale_downs(
    cluster: Emulator, make_scaler: MakeScaler
) -> None:
    downs = [f"idle-{i}" for i in range(5)]
    for name in downs:
        cluster.objects[DEPLOYMENTS, "agents", name] = deployment(name, replicas=3)
    cluster.objects[DEPLOYMENTS, "agents", "flooded"] = deployment("flooded", replicas=0)
    fleet = config({name: pool("acme") for name in [*downs, "flooded"]})
    scaler = make_scaler(fleet, qps=5.0, burst=1)
    await observe_until(scaler, lambda states: len(states) == len(fleet.pools))
    seen = arrivals(cluster)

    down_calls = [asyncio.ensure_future(scaler.scale(name, 1)) for name in downs]
    # Once every scale-down has either gone or is waiting for its turn (none in between):
    await eventually(lambda: scaler.api.budget.waiting + len(seen) == len(downs))
    gone_before = len(seen)
    wake = asyncio.ensure_future(scaler.scale("flooded", 4))
    await asyncio.wait_for(asyncio.gather(wake, *down_calls), 30)

    assert gone_before < len(downs)  # some scale-downs were still waiting
    assert seen[gone_before] == "scale flooded"  # the wake went first of those
    assert sorted(seen) == sorted(["scale flooded", *(f"scale {name}" for name in downs)])


def fence_in(seconds: float) -> Fence:
    """A lease that holds for this long from when the call starts."""
    by = asyncio.get_running_loop().time() + seconds
    return lambda: by


async def test_a_write_whose_turn_comes_too_late_is_not_sent(
    cluster: Emulator, make_scaler: MakeScaler
) -> None:
    """Each answer takes 0.8 s (as a first scale shows); then two reads ahead of the next
    scale in a budget of 4 calls a second: its turn comes about 0.75 s into the 1.2 s its
    lease allows, with less than an answer's time left. Sent, it would land after its call
    had given up."""
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=1)
    cluster.faults.append(latency(0.8))
    scaler = make_scaler(qps=4.0, burst=1)
    await observe_until(scaler, lambda states: "web" in states, timeout=15)
    first = replaced(GROW, current=1, desired=2)
    await scaler.scale_with_reason("web", 2, first, 0.0)
    reads = crowd(scaler.api, 3)
    await eventually(lambda: scaler.api.budget.waiting >= 2)

    with pytest.raises(PoolUnavailable, match="not sent: its turn came with") as failed:
        await asyncio.wait_for(scaler.scale_with_reason("web", 5, GROW, 0.0, fence_in(1.2)), 30)
    await asyncio.gather(*reads)

    left, given, answer = map(float, re.findall(r"([0-9.]+) s", failed.value.reason)[:3])
    assert left < answer  # what it says is why
    assert given == pytest.approx(1.2, abs=0.05)
    patched = [r for r in cluster["patch"] if r.url.path == SCALE_PATH.format("web")]
    assert [r.data["spec"]["replicas"] for r in patched] == [2]  # the first scale's only
    assert cluster.objects[DEPLOYMENTS, "agents", "web"]["spec"]["replicas"] == 2


@pytest.mark.parametrize(
    ("status", "headers", "said"),
    [(429, {"Retry-After": "2"}, "429 Retry-After 2: slow down"), (503, {}, "503 slow down")],
)
async def test_a_refusal_keeps_its_status_when_the_deadline_cuts_the_retry(
    cluster: Emulator,
    make_scaler: MakeScaler,
    status: int,
    headers: dict[str, str],
    said: str,
) -> None:
    """The server refuses the PATCH, and other calls fill the budget before the retry's
    turn, which does not come before the deadline: the reason is the server's answer, not
    "no answer"."""
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=2)
    scaler = make_scaler(qps=10.0, burst=1)
    await observe_until(scaler, lambda states: "web" in states)
    queued: list[asyncio.Future[object]] = []

    async def refuse_and_crowd(request: Request) -> None:
        if request.method == "PATCH" and request.url.path == SCALE_PATH.format("web"):
            queued.extend(queued or crowd(scaler.api, 20))  # 2 s of the budget, from now
            raise Refused(status, "Failure", "slow down", headers=headers)

    cluster.faults.append(refuse_and_crowd)

    with pytest.raises(PoolUnavailable) as failed:
        await asyncio.wait_for(scaler.scale_with_reason("web", 5, GROW, 0.0, fence_in(1.0)), 30)
    await asyncio.gather(*queued)

    assert failed.value.reason == f"cannot scale: patch deployments/scale agents/web: {said}"
    assert [r for r in cluster["patch"] if r.url.path == SCALE_PATH.format("web")] != []
