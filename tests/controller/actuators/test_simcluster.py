"""The simulated cluster's view (`observe`) follows every change a user would see of a pool:
its replicas, pods coming up and going, and what each pod's worker says it is doing, even
though only the pools that changed are built again."""

from __future__ import annotations

import asyncio

from controller.actuators.simcluster import PodHandle, SimulatedCluster
from controller.core.model import PoolState
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool


def phases(state: PoolState) -> list[tuple[str, str | None]]:
    return [(p.phase, p.task) for p in state.pods]


async def test_observe_follows_pods_starting_working_and_stopping() -> None:
    fleet = config({"coder": pool("acme", cold_start_seconds=0.05), "idle": pool("acme")})
    working = asyncio.Event()

    async def worker(pod: PodHandle) -> None:
        await working.wait()
        pod.task = "t1"
        await pod.stopping.wait()
        pod.task = None

    cluster = SimulatedCluster(fleet, worker=worker, clock=FakeClock())
    assert (await cluster.observe())["coder"] == PoolState(0, 0, ())

    await cluster.scale("coder", 2)
    held = await cluster.observe()
    assert held["coder"].replicas == 2
    assert phases(held["coder"]) == [("Pending", None)] * 2

    async def ready(count: int) -> bool:
        return (await cluster.observe())["coder"].ready == count

    await eventually(lambda: ready(2))
    working.set()

    async def tasks() -> bool:
        return phases((await cluster.observe())["coder"]) == [("Running", "t1")] * 2

    await eventually(tasks)
    assert phases(held["coder"]) == [("Pending", None)] * 2  # a view already given stays

    await cluster.scale("coder", 1)
    state = (await cluster.observe())["coder"]
    assert (state.replicas, state.ready) == (1, 1)
    assert sorted(p.phase for p in state.pods) in (["Running", "Terminating"], ["Running"])

    async def one_left() -> bool:
        return phases((await cluster.observe())["coder"]) == [("Running", "t1")]

    await eventually(one_left)
    assert (await cluster.observe())["idle"] == PoolState(0, 0, ())

    await cluster.close()
    assert (await cluster.observe())["coder"] == PoolState(0, 0, ())


async def test_its_events_are_what_kubectl_describe_would_list() -> None:
    """The Deployment controller's scales on the Deployment; the scheduler's and the
    kubelet's on each pod."""
    fleet = config({"coder": pool("acme", cold_start_seconds=0.0)})
    cluster = SimulatedCluster(fleet, clock=FakeClock())
    await cluster.scale("coder", 2)
    pods = [pod.name for pod in (await cluster.observe())["coder"].pods]

    async def reasons(pod: str) -> list[str]:
        return [event.reason for event in await cluster.events_of("coder", pod)]

    async def started() -> bool:
        return [await reasons(pod) for pod in pods] == [["Scheduled", "Started"]] * 2

    await eventually(started)
    await cluster.scale("coder", 1)
    said = [(e.reason, e.message) for e in await cluster.events_of("coder")]
    assert said == [
        ("ScalingReplicaSet", "Scaled up replica set coder to 2"),
        ("ScalingReplicaSet", "Scaled down replica set coder to 1"),
    ]
    assert sorted([(await reasons(pod))[-1] for pod in pods]) == ["Killing", "Started"]
    await cluster.close()
