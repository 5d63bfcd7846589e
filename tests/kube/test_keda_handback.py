"""Taking a Deployment over from KEDA on the real API server, with KEDA's own ScaledObject CRD
and deploy/'s RBAC: the installed daemon pauses the ScaledObject before its first scale, marks
it as its own, and gives it back when it stops; one a person paused stays paused."""

from __future__ import annotations

import signal

from nats.aio.client import Client

from controller.actuators.kubernetes.keda import PAUSED, PAUSED_FOR
from controller.core.config import load_config
from controller.sources.jetstream_queues import ensure_queues
from tests.kube.conftest import FleetFile, RunDaemon
from tests.support import eventually
from tests.support.kube_cluster import AgentdashCluster
from tests.support.loops import publish


async def test_a_scaled_object_is_paused_while_agentdash_scales_and_given_back_at_stop(
    kube: AgentdashCluster, fleet_file: FleetFile, run_daemon: RunDaemon, nc: Client
) -> None:
    kube.deployment("taken", replicas=0)
    kube.scaled_object("taken-queue", "taken")
    kube.deployment("kept", replicas=0)
    kube.scaled_object("kept-queue", "kept", annotations={PAUSED: "true"})  # a person's pause
    path = fleet_file(taken={"take_over": True}, kept={"take_over": True})
    config = load_config(path)
    await ensure_queues(nc, config)
    await publish(nc, config.subject("taken"), 3)
    await publish(nc, config.subject("kept"), 2)
    daemon = run_daemon(path)

    await eventually(lambda: kube.replicas("taken") == 3, timeout=30)
    assert kube.scaled_object_annotations("taken-queue") == {PAUSED: "true", PAUSED_FOR: "taken"}
    await eventually(lambda: kube.replicas("kept") == 2, timeout=30)
    assert kube.scaled_object_annotations("kept-queue") == {PAUSED: "true"}  # left as it was

    assert daemon.stop(signal.SIGTERM) == 0
    assert kube.scaled_object_annotations("taken-queue") == {}  # KEDA scales it again
    assert kube.scaled_object_annotations("kept-queue") == {PAUSED: "true"}
    assert kube.replicas("taken") == 3  # given back as it stands: KEDA takes it from there
