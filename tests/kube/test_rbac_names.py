"""The Roles `agentdash rbac` prints, enforced by the real API server: the daemon scales (and,
with annotate, annotates) the Deployment its config names, elects itself on the Lease by
name, and is refused on a Deployment the config did not name when the Roles were made.
A pool taken over from KEDA needs no right beyond them.
(What the Roles hold: tests/agentdash/test_rbac_command.py.)"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from nats.aio.client import Client

from controller.actuators.kubernetes.keda import PAUSED, PAUSED_FOR
from controller.actuators.kubernetes.objects import ANNOTATION
from controller.core.config import load_config
from controller.sources.jetstream_queues import ensure_queues
from tests.kube.conftest import FleetFile, RunDaemon
from tests.support import eventually
from tests.support.cli import AGENTDASH
from tests.support.kube_cluster import (
    CONTROLLER_NAMESPACE,
    LEASE,
    LEASE_RBAC,
    POOLS_NAMESPACE,
    AgentdashCluster,
    deploy_role,
    documents,
)
from tests.support.loops import publish

NAMED, UNNAMED = "by-name", "not-named"
SCALE: tuple[str, str, str] = ("apps", "deployments/scale", "patch")
REFUSED = 'cannot patch resource "deployments/scale" in API group "apps"'


def rbac(config: Path) -> str:
    """What `agentdash rbac` prints for this config, as an operator runs it."""
    done = subprocess.run(
        [AGENTDASH, "rbac", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def without_pool(config: Path, pool: str) -> Path:
    data = yaml.safe_load(config.read_text())
    del data["pools"][pool]
    smaller = config.with_name("smaller.yaml")
    smaller.write_text(yaml.safe_dump(data))
    return smaller


def annotating(config: Path) -> Path:
    data = yaml.safe_load(config.read_text())
    data["kubernetes"]["annotate"] = True
    config.write_text(yaml.safe_dump(data))
    return config


@pytest.fixture
def generated_roles(kube: AgentdashCluster) -> Iterator[None]:
    """Only the Roles the test applies grant agentdash anything: deploy/'s Lease Role is
    unbound meanwhile (deploy/rbac.yaml's Role is replaced by the one of the same name).
    Afterwards, deploy/'s again."""
    kube.remove("RoleBinding", LEASE, CONTROLLER_NAMESPACE)
    yield
    kube.remove("Role", "agentdash", CONTROLLER_NAMESPACE)
    kube.remove("RoleBinding", "agentdash", CONTROLLER_NAMESPACE)
    kube.apply(documents(LEASE_RBAC))
    kube.set_role(deploy_role())
    for verb in ("get", "patch"):
        kube.wait_allowed(("coordination.k8s.io", "leases", verb), LEASE, CONTROLLER_NAMESPACE)


async def test_the_daemon_scales_the_deployment_its_config_names_and_no_other(
    kube: AgentdashCluster,
    fleet_file: FleetFile,
    run_daemon: RunDaemon,
    nc: Client,
    generated_roles: None,
) -> None:
    for name in (NAMED, UNNAMED):
        kube.deployment(name, replicas=0)
    path = annotating(fleet_file(**{NAMED: {}, UNNAMED: {}}))
    config = load_config(path)
    await ensure_queues(nc, config)
    for pool in (NAMED, UNNAMED):
        for i in range(3):
            await nc.jetstream().publish(config.subject(pool), json.dumps({"id": i}).encode())
    # The Roles as they were printed before the second pool was added to the config.
    kube.apply([doc for doc in yaml.safe_load_all(rbac(without_pool(path, UNNAMED))) if doc])
    await eventually(
        lambda: kube.allowed(SCALE, NAMED) and not kube.allowed(SCALE, UNNAMED),
        timeout=30,
        every=0.05,
    )
    daemon = run_daemon(path)

    await eventually(lambda: kube.replicas(NAMED) == 3, timeout=30)
    health = await daemon.wait_health(lambda h: UNNAMED in h.get("stale_pools", {}), timeout=30)

    assert health["role"] == "leader"  # on the Lease, by its name alone
    assert REFUSED in health["stale_pools"][UNNAMED]  # in the API server's words
    assert NAMED not in health["stale_pools"]
    assert kube.replicas(UNNAMED) == 0

    def annotation() -> dict[str, Any] | None:
        deployment = kube.apps.read_namespaced_deployment(NAMED, POOLS_NAMESPACE)
        found = (deployment.metadata.annotations or {}).get(ANNOTATION)
        return None if found is None else dict(json.loads(found))

    await eventually(lambda: annotation() is not None, timeout=30)  # patch deployments, by name
    assert (annotation() or {})["desired"] == 3


async def test_a_take_over_needs_no_right_the_printed_roles_do_not_grant(
    kube: AgentdashCluster,
    fleet_file: FleetFile,
    run_daemon: RunDaemon,
    nc: Client,
    generated_roles: None,
) -> None:
    """A pool taken over from KEDA (as `agentdash import keda` writes it): the daemon pauses
    the ScaledObject, scales, is refused nothing, and gives the ScaledObject back at stop."""
    kube.deployment("handed", replicas=0)
    kube.scaled_object("handed-queue", "handed")
    path = fleet_file(handed={"take_over": True})
    config = load_config(path)
    await ensure_queues(nc, config)
    await publish(nc, config.subject("handed"), 3)
    kube.apply([doc for doc in yaml.safe_load_all(rbac(path)) if doc])
    kube.wait_allowed(("keda.sh", "scaledobjects", "patch"), "handed-queue")
    daemon = run_daemon(path)

    await eventually(lambda: kube.replicas("handed") == 3, timeout=30)
    assert kube.scaled_object_annotations("handed-queue") == {PAUSED: "true", PAUSED_FOR: "handed"}
    health = await daemon.wait_health(lambda h: h.get("role") == "leader", timeout=30)
    assert health.get("refused", {}) == {}, health["refused"]
    assert health.get("stale_pools", {}) == {}

    assert daemon.stop(signal.SIGTERM) == 0
    assert kube.scaled_object_annotations("handed-queue") == {}  # given back


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_apply_takes_the_output_and_applies_it_again_unchanged(
    kube: AgentdashCluster, fleet_file: FleetFile, generated_roles: None, tmp_path: Path
) -> None:
    admin = kube.plane.kubeconfig(tmp_path / "admin.kubeconfig", kube.plane.admin_token)
    output = rbac(fleet_file(web={}))

    def apply() -> str:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", str(admin), "apply", "-f", "-"],
            input=output,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    apply()
    again = apply().splitlines()

    assert len(again) == 5  # the ServiceAccount, and a Role and its binding per namespace
    assert all(line.endswith(" unchanged") for line in again), again
