"""The demo's simulated cluster, its workers on a real nats-server: the workers say which pods
are busy, and a scale-down takes the idle pods, as a ReplicaSet does with pod-deletion-cost
marks. Nothing is given back to the queue, nothing redelivered."""

from __future__ import annotations

from nats.aio.client import Client

from agentdash.demo.worker import AgentWorker, Ledger
from agentdash.demo.workload import Task
from controller.actuators.simcluster import SimulatedCluster
from controller.core.busy import BusyPods
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import NatsBusySource
from tests.support import eventually
from tests.support.factories import config, pool


async def test_a_scale_down_takes_the_idle_pods_and_redelivers_nothing(nc: Client) -> None:
    fleet = config({"coder": pool("acme", cold_start_seconds=0, max_replicas=4)})
    await ensure_queues(nc, fleet)
    busy = NatsBusySource(nc, fleet, clock=lambda: 0.0)
    await busy.start()
    ledger = Ledger()
    cluster = SimulatedCluster(fleet, worker=AgentWorker(nc, fleet, ledger), busy=busy.ledger)
    try:
        await cluster.scale("coder", 4)
        pods = [p.name for p in (await cluster.observe())["coder"].pods]
        await eventually(lambda: busy.ledger.idle("coder", pods, 0.0) == set(pods))
        js = nc.jetstream()
        for n in range(2):  # long tasks: two pods busy until the end of the test
            task = Task(f"t{n}", "coder", "acme", 0.0, 600.0, 1000)
            await js.publish(fleet.subject("coder"), task.payload())

        async def working() -> set[str]:
            return {p.name for p in (await cluster.observe())["coder"].pods if p.task}

        async def two_working() -> bool:
            return len(await working()) == 2

        await eventually(two_working)
        holding = await working()
        await eventually(lambda: busy.ledger.idle("coder", pods, 0.0) == set(pods) - holding)

        await cluster.scale("coder", 2)

        async def two_left() -> bool:
            return len((await cluster.observe())["coder"].pods) == 2

        await eventually(two_left)
        assert {p.name for p in (await cluster.observe())["coder"].pods} == holding
        assert await working() == holding  # still at their tasks
        assert ledger.naked == 0
        info = await js.consumer_info("AGENT_TASKS", "coder")
        assert (info.num_ack_pending, info.num_pending, info.num_redelivered) == (2, 0, 0)
        assert busy.bad.counts["busy"] == 0  # every report the workers sent was believed
    finally:
        await cluster.close()


async def test_the_simulated_replicaset_takes_unready_then_marked_idle_then_newest_pods() -> None:
    fleet = config({"coder": pool("acme", cold_start_seconds=0, max_replicas=8)})
    ledger = BusyPods(fleet)
    now, cold = [0.0], [0.0]
    cluster = SimulatedCluster(
        fleet, clock=lambda: now[0], cold_start=lambda _: cold[0], busy=ledger
    )
    try:
        for replicas in range(1, 5):  # four pods, oldest first, no worker: they just wait
            now[0] = float(replicas)
            await cluster.scale("coder", replicas)
        await eventually(lambda: all(p.ready for p in cluster._pods["coder"]))
        oldest, second, third, newest = (p.name for p in cluster._pods["coder"])
        for name, tasks in ((oldest, 0), (second, 0), (third, 2), (newest, 1)):
            ledger.report("coder", name, tasks, now[0])
        cold[0] = 60.0
        await cluster.scale("coder", 5)  # one more, still starting: not ready

        # Three victims: the starting pod, then the two idle ones, marked; the newest
        # (busy) ones stay, though a ReplicaSet alone would have taken them.
        await cluster.scale("coder", 2)

        leaving = {p.name for p in cluster._pods["coder"] if p.terminating}
        assert {p.name for p in cluster._pods["coder"]} - leaving == {third, newest}
        assert {oldest, second} <= leaving
    finally:
        await cluster.close()
