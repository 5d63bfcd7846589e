"""Describe's Events against the real API server: its field selector picks one object's
Events, and an account that may not `list events` (deploy/'s Role, the daemon's) is told so
in one line, not a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.actuators.kubernetes import DeploymentScaler
from controller.core.model import SourceError
from tests.support.factories import config, pool
from tests.support.kube_cluster import POOLS_NAMESPACE, AgentdashCluster

POOL = "described"


def event(name: str, kind: str, about: str, reason: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": POOLS_NAMESPACE},
        "involvedObject": {"kind": kind, "name": about, "namespace": POOLS_NAMESPACE},
        "reason": reason,
        "message": f"{reason} of {kind} {about}",
        "type": "Warning" if reason.startswith("Failed") else "Normal",
        "source": {"component": "kubelet"},
        "firstTimestamp": "2026-01-05T10:00:00Z",
        "lastTimestamp": "2026-01-05T10:01:00Z",
        "count": 3,
    }


@pytest.fixture(scope="module")
def described(kube: AgentdashCluster) -> AgentdashCluster:
    kube.deployment(POOL, replicas=0)
    for item in (
        event("d1", "Deployment", POOL, "ScalingReplicaSet"),
        event("d2", "Deployment", "another", "ScalingReplicaSet"),
        event("p1", "Pod", f"{POOL}-abc", "FailedScheduling"),
    ):
        kube.core.create_namespaced_event(POOLS_NAMESPACE, item)
    return kube


async def scaler(kubeconfig: Path) -> DeploymentScaler:
    fleet = config({POOL: pool("acme", deployment={"namespace": POOLS_NAMESPACE, "name": POOL})})
    return await DeploymentScaler.connect(fleet, kubeconfig=str(kubeconfig))


async def test_an_operators_account_reads_one_objects_events(
    described: AgentdashCluster, tmp_path: Path
) -> None:
    admin = described.plane.kubeconfig(tmp_path / "admin", described.plane.admin_token)
    reader = await scaler(admin)
    try:
        [deployment] = await reader.events_of(POOL)
        [pod] = await reader.events_of(POOL, f"{POOL}-abc")
    finally:
        await reader.close()
    assert (deployment.reason, deployment.message) == (
        "ScalingReplicaSet",
        f"ScalingReplicaSet of Deployment {POOL}",
    )
    assert (pod.type, pod.reason, pod.count, pod.source) == (
        "Warning",
        "FailedScheduling",
        3,
        "kubelet",
    )


async def test_the_daemons_account_is_refused_in_one_line(described: AgentdashCluster) -> None:
    reader = await scaler(described.kubeconfig)
    try:
        with pytest.raises(SourceError) as refused:
            await reader.events_of(POOL)
    finally:
        await reader.close()
    said = str(refused.value)
    assert f"list the Events of Deployment {POOLS_NAMESPACE}/{POOL}" in said
    assert "forbidden" in said.lower()
    assert "\n" not in said
