"""The least a config's daemon needs of Kubernetes: per namespace, each right and why.

What `agentdash rbac` prints as Roles (agentdash.rbac). Each grant is a request the scaler, the
idle-first marks, the KEDA pause or the Kubernetes Lease really makes
(tests/controller/actuators/kubernetes/test_manifests.py checks both ways, in each mode), and a
right that names one object is restricted to the objects the config names:

- the `scale` subresource of the config's Deployments, and nothing else of them, unless
  `kubernetes.annotate` asks for the decision annotation (`patch deployments`, by name);
- `list` and `watch` are not restricted by name: one watch per namespace serves all its pools
  (a name would need a watch per Deployment), and reading a Deployment changes nothing;
- pods cannot be named ahead of time (a ReplicaSet names each pod as it creates it), nor the
  ScaledObjects that target a Deployment; `create` never can be (the API server authorizes it
  before the object has a name).

Pure: the config in, records out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from controller.core.config import Config

ROLE_NAME = "agentdash"
"""The Roles' and RoleBindings' name, as deploy/rbac.yaml names its own (which they replace)."""


@dataclass(frozen=True)
class Grant:
    """One rule of a Role: `verbs` on `resource` of API `group`, on `names` only if any."""

    group: str
    resource: str
    verbs: tuple[str, ...]
    why: str
    names: tuple[str, ...] = ()

    def rule(self) -> dict[str, Any]:
        """As a Role's rule (`kubectl apply` reads it so)."""
        rule: dict[str, Any] = {"apiGroups": [self.group], "resources": [self.resource]}
        if self.names:
            rule["resourceNames"] = list(self.names)
        rule["verbs"] = list(self.verbs)
        return rule


@dataclass(frozen=True)
class NamespaceGrants:
    """What the daemon needs in one namespace."""

    namespace: str
    grants: tuple[Grant, ...]

    def role(self) -> dict[str, Any]:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": ROLE_NAME, "namespace": self.namespace},
            "rules": [grant.rule() for grant in self.grants],
        }

    def binding(self, account: ServiceAccountRef) -> dict[str, Any]:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": ROLE_NAME, "namespace": self.namespace},
            "subjects": [
                {"kind": "ServiceAccount", "name": account.name, "namespace": account.namespace}
            ],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE_NAME},
        }


@dataclass(frozen=True)
class ServiceAccountRef:
    """The daemon's identity (deploy/rbac.yaml: agentdash in namespace agentdash)."""

    namespace: str = "agentdash"
    name: str = "agentdash"

    def manifest(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": self.name, "namespace": self.namespace},
        }


def least_grants(config: Config) -> list[NamespaceGrants]:
    """Per namespace (sorted), what the daemon of this config needs there: the pools'
    namespaces, and the Kubernetes Lease's if it elects its leader on one."""
    deployments: dict[str, set[str]] = defaultdict(set)
    take_over: set[str] = set()
    for pool in config.pools.values():
        deployments[pool.deployment.namespace].add(pool.deployment.name)
        if pool.take_over:
            take_over.add(pool.deployment.namespace)
    grants: dict[str, list[Grant]] = defaultdict(list)
    for namespace, names in deployments.items():
        grants[namespace] += _pool_grants(
            tuple(sorted(names)),
            annotate=config.kubernetes.annotate,
            idle_first=config.kubernetes.pod_deletion_cost,
            take_over=namespace in take_over,
        )
    lease = config.kubernetes.lease
    if lease is not None:
        grants[lease.namespace] += _lease_grants(lease.name)
    return [NamespaceGrants(ns, tuple(grants[ns])) for ns in sorted(grants)]


def _pool_grants(
    names: tuple[str, ...], *, annotate: bool, idle_first: bool, take_over: bool
) -> list[Grant]:
    """What the pools of one namespace need, Deployments `names`, in the config's modes."""
    grants = [_READ_DEPLOYMENTS, _scale(names)]
    if annotate:
        grants.append(_annotate(names))
    grants.append(_READ_PODS)
    if idle_first:
        grants.append(_MARK_IDLE_PODS)
    grants += [_CREATE_EVENTS, _READ_HPAS, _READ_SCALED_OBJECTS]
    if take_over:
        grants.append(_PAUSE_SCALED_OBJECTS)
    return grants


_READ_DEPLOYMENTS = Grant(
    group="apps",
    resource="deployments",
    verbs=("list", "watch"),
    why="Read: replicas, selector and readiness of each pool's Deployment. Not by name: one "
    "watch serves every pool of the namespace.",
)


def _scale(names: tuple[str, ...]) -> Grant:
    return Grant(
        group="apps",
        resource="deployments/scale",
        verbs=("get", "patch"),
        why="Replicas change here only, and only on the config's Deployments: the scale "
        "subresource can change nothing else (image, command, service account). get: a scale "
        "whose answer was lost is read back, to know whether it landed.",
        names=names,
    )


def _annotate(names: tuple[str, ...]) -> Grant:
    return Grant(
        group="apps",
        resource="deployments",
        verbs=("patch",),
        why="kubernetes.annotate: the agentdash.io/last-decision annotation, so that `kubectl "
        "describe deployment` says why. This right could change the whole Deployment: "
        "without annotate, it is not granted.",
        names=names,
    )


_READ_PODS = Grant(
    group="",
    resource="pods",
    verbs=("list", "watch"),
    why="Read: the ready count and the Pods screen.",
)
_MARK_IDLE_PODS = Grant(
    group="",
    resource="pods",
    verbs=("patch",),
    why="kubernetes.pod_deletion_cost: before a scale-down, "
    "controller.kubernetes.io/pod-deletion-cost on idle pods, so the ReplicaSet deletes them "
    "first. resourceNames cannot restrict pods: a ReplicaSet names each pod as it creates it, "
    "so this covers every pod of the namespace (keep pools in namespaces of their own).",
)
_CREATE_EVENTS = Grant(
    group="",
    resource="events",
    verbs=("create",),
    why="One Event per scale on the Deployment. create cannot be restricted by name.",
)
_READ_HPAS = Grant(
    group="autoscaling",
    resource="horizontalpodautoscalers",
    verbs=("list", "watch"),
    why="Read, to leave alone a Deployment that an HPA already scales.",
)
_READ_SCALED_OBJECTS = Grant(
    group="keda.sh",
    resource="scaledobjects",
    verbs=("list", "watch"),
    why="Read, to leave alone a Deployment that a KEDA ScaledObject already scales.",
)
_PAUSE_SCALED_OBJECTS = Grant(
    group="keda.sh",
    resource="scaledobjects",
    verbs=("patch",),
    why="take_over: KEDA's pause annotation on the ScaledObject that scales a taken-over "
    "pool, removed on a clean stop. Not by name: the ScaledObjects are found by the "
    "Deployment they target.",
)


def _lease_grants(name: str) -> list[Grant]:
    return [
        Grant(
            "coordination.k8s.io",
            "leases",
            ("create",),
            "kubernetes.lease: the leader's Lease, created by whoever leads first. create "
            "cannot be restricted by name (it is authorized before the object has one).",
        ),
        Grant(
            "coordination.k8s.io",
            "leases",
            ("get", "patch"),
            "Read and renew the leader's Lease, and no other. patch, not update: every write "
            "names the resourceVersion it last saw, which the API server checks.",
            (name,),
        ),
    ]
