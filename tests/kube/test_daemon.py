"""The installed daemon on a real API server, with deploy/'s RBAC and nothing more: it elects
itself on a Lease and scales a Deployment from zero on a real nats-server.

No kubelet runs, so no pod ever starts: what is observable of a scale is the Deployment's
`scale` subresource (and the Event that says why)."""

from __future__ import annotations

import signal

from nats.aio.client import Client

from controller.actuators.kubernetes.objects import ANNOTATION, EVENT_REASON
from controller.core.config import load_config
from controller.sources.jetstream_queues import ensure_queues
from tests.kube.conftest import FleetFile, RunDaemon
from tests.support import eventually
from tests.support.kube_cluster import POOLS_NAMESPACE, AgentdashCluster
from tests.support.loops import publish


async def test_the_daemon_elects_itself_on_a_lease_and_scales_from_zero(
    kube: AgentdashCluster, fleet_file: FleetFile, run_daemon: RunDaemon, nc: Client
) -> None:
    kube.deployment("web", replicas=0)
    path = fleet_file(web={})
    config = load_config(path)
    await ensure_queues(nc, config)
    await publish(nc, config.subject("web"), 3)  # waiting before the daemon starts: one scale
    daemon = run_daemon(path)

    health = await daemon.wait_health(lambda h: h["status"] == 200 and h["role"] == "leader")
    holder = daemon.read()[0]["holder"]
    assert health["leader"] == holder
    budget = daemon.read()[0]["api_budget"]  # what one pool asks of the API: it fits
    assert budget == health["api_budget"]
    assert (budget["calls_for_every_pool"], budget["fits"]) == (2, True)
    lease = kube.lease()
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == holder

    await eventually(lambda: kube.replicas("web") == 3, timeout=30)

    def said_why() -> list[str]:  # after the scale
        return [
            e.message
            for e in kube.core.list_namespaced_event(
                POOLS_NAMESPACE, field_selector="involvedObject.name=web"
            ).items
            if e.reason == EVENT_REASON
        ]

    await eventually(lambda: bool(said_why()), timeout=30)
    assert len(said_why()) == 1
    assert said_why()[0].startswith("New size: 3 (was 0); demand:")
    deployment = kube.apps.read_namespaced_deployment("web", POOLS_NAMESPACE)
    assert ANNOTATION not in (deployment.metadata.annotations or {})  # annotate is off

    assert daemon.stop(signal.SIGTERM) == 0
    released = kube.lease()
    assert released is not None
    assert not released["spec"].get("holderIdentity")  # given up: another may lead at once
