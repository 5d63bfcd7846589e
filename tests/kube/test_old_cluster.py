"""Kubernetes 1.20 serves HorizontalPodAutoscalers as autoscaling/v2beta2, not v2 (which came
in 1.23): the check for a conflicting HPA reads them there, and never fails a pool for it."""

from __future__ import annotations

import logging

import pytest
from kubernetes import client

from controller.actuators.kubernetes import DeploymentScaler
from tests.support.factories import config, pool
from tests.support.kube_cluster import POOLS_NAMESPACE, AgentdashCluster


def old_hpa(name: str, target: str) -> dict[str, object]:
    return {
        "apiVersion": "autoscaling/v2beta2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 1,
            "maxReplicas": 10,
        },
    }


async def test_an_hpa_on_autoscaling_v2beta2_holds_its_deployment_and_no_other(
    kube: AgentdashCluster, caplog: pytest.LogCaptureFixture
) -> None:
    kube.deployment("old-web", replicas=1)
    kube.deployment("old-legacy", replicas=2)
    client.CustomObjectsApi(kube.admin).create_namespaced_custom_object(
        "autoscaling",
        "v2beta2",
        POOLS_NAMESPACE,
        "horizontalpodautoscalers",
        old_hpa("old-legacy-cpu", "old-legacy"),
    )
    fleet = config({"old-web": pool("acme"), "old-legacy": pool("acme")})

    with caplog.at_level(logging.INFO, logger="agentdash.kube"):
        async with await DeploymentScaler.connect(
            fleet, kubeconfig=str(kube.kubeconfig), deadline_s=10.0
        ) as scaler:
            states = await scaler.observe()
            assert states["old-web"].replicas == 1
            assert states["old-legacy"].replicas == 2  # read, though not scaled
            assert scaler.problems["old-legacy"] == (
                "Deployment agents/old-legacy is scaled by HorizontalPodAutoscaler "
                "agents/old-legacy-cpu; agentdash leaves it alone (set "
                "pools.old-legacy.take_over: true to scale it anyway)"
            )
            await scaler.scale("old-web", 4)

    assert kube.replicas("old-web") == 4
    assert kube.replicas("old-legacy") == 2
    said = [r.getMessage() for r in caplog.records if "is not served" in r.getMessage()]
    assert said == [
        "horizontalpodautoscalers in namespace agents: autoscaling/v2 is not served here; "
        "reading them through autoscaling/v2beta2"
    ]
