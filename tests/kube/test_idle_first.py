"""A scale-down on the real API server, with deploy/'s RBAC: the daemon first marks the pods
its workers report idle with a low pod-deletion-cost, so the ReplicaSet takes them before
the busy ones. (No ReplicaSet controller runs here: what is observable is the mark on the
pods and the Deployment's new size.)"""

from __future__ import annotations

import json

from nats.aio.client import Client

from controller.actuators.kubernetes.objects import DELETION_COST, IDLE_COST
from controller.core.config import load_config
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import BUSY_SUBJECT
from tests.kube.conftest import FleetFile, RunDaemon
from tests.support import eventually
from tests.support.kube_cluster import POOLS_NAMESPACE, AgentdashCluster

POOL = "idle-first"


def cost_of(kube: AgentdashCluster, pod: str) -> str | None:
    found = kube.core.read_namespaced_pod(pod, POOLS_NAMESPACE)
    return (found.metadata.annotations or {}).get(DELETION_COST)


async def test_a_scale_down_marks_the_idle_pod_and_not_the_busy_one(
    kube: AgentdashCluster, fleet_file: FleetFile, run_daemon: RunDaemon, nc: Client
) -> None:
    kube.deployment(POOL, replicas=2)
    pods = [f"{POOL}-{i}" for i in range(2)]
    for pod in pods:
        kube.ready_pod(pod, POOL)
    path = fleet_file(**{POOL: {"min_replicas": 1}})
    config = load_config(path)
    await ensure_queues(nc, config)
    for i in range(2):  # two tasks keep both replicas
        await nc.jetstream().publish(config.subject(POOL), json.dumps({"id": i}).encode())
    daemon = run_daemon(path)
    await daemon.wait_health(lambda h: h["role"] == "leader" and h["ticks"] > 1)

    worker = await nc.jetstream().pull_subscribe_bind(POOL, "AGENT_TASKS")
    [done, busy] = await worker.fetch(2, timeout=5)
    for pod, working in zip(pods, (0, 1), strict=True):  # as their workers say
        report = {"tenant": "acme", "pool": POOL, "pod": pod, "busy": working}
        await nc.publish(f"{BUSY_SUBJECT}.acme", json.dumps(report).encode())
    await nc.flush()
    await done.ack()  # then one task is done: one replica is enough

    await eventually(lambda: kube.replicas(POOL) == 1, timeout=30)
    assert cost_of(kube, pods[0]) == IDLE_COST  # marked before the scale-down
    assert cost_of(kube, pods[1]) is None  # busy: left as it was
    await busy.ack()
