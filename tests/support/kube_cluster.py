"""The real API server (tests.support.kube) set up as an operator sets a cluster up for
agentdash: the namespaces, deploy/'s ServiceAccount, Role and RoleBinding applied as they are
(read from deploy/, never copied), the Deployments of the pools, and a kubeconfig with the
ServiceAccount's own token, so that agentdash has exactly the rights deploy/ grants it."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, utils
from kubernetes.client.exceptions import ApiException

from tests.support.kube import ControlPlane

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RBAC = DEPLOY / "rbac.yaml"
LEASE_RBAC = DEPLOY / "options" / "rbac-kubernetes-lease.yaml"
CONTROLLER_NAMESPACE = "agentdash"
POOLS_NAMESPACE = "agents"
ACCOUNT = "agentdash"
LEASE = "agentdash-leader"
USER = f"system:serviceaccount:{CONTROLLER_NAMESPACE}:{ACCOUNT}"
TOKEN_SECONDS = 24 * 3600

Right = tuple[str, str, str]
"""(API group, resource, verb), as a Role's rules grant them."""

KEDA_CRD = Path(__file__).resolve().parents[1] / "data" / "keda" / "keda.sh_scaledobjects.yaml"
"""KEDA's own ScaledObject CRD, as KEDA ships it: the ScaledObjects made here pass its schema."""


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def deploy_role() -> dict[str, Any]:
    """The Role of deploy/rbac.yaml, as it is in the file."""
    (role,) = [doc for doc in documents(RBAC) if doc["kind"] == "Role"]
    return role


def rights(role: dict[str, Any]) -> list[Right]:
    """Every (group, resource, verb) a Role grants, in the file's order."""
    return [
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    ]


def without(role: dict[str, Any], right: Right) -> dict[str, Any]:
    """The Role less one right (a rule left with nothing is dropped)."""
    smaller = copy.deepcopy(role)
    rules = []
    for rule in smaller["rules"]:
        granted = set(rights({"rules": [rule]}))
        if right in granted:
            granted.discard(right)
            rules += [
                {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                for group, resource, verb in sorted(granted)
            ]
        else:
            rules.append(rule)
    smaller["rules"] = rules
    return smaller


class AgentdashCluster:
    """The control plane with agentdash installed; `kubeconfig` is the ServiceAccount's."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.admin = plane.admin()
        self.apps = client.AppsV1Api(self.admin)
        self.core = client.CoreV1Api(self.admin)
        self.rbac = client.RbacAuthorizationV1Api(self.admin)
        self.coordination = client.CoordinationV1Api(self.admin)
        self.kubeconfig = plane.work / "agentdash.kubeconfig"

    def install(self) -> AgentdashCluster:
        for namespace in (CONTROLLER_NAMESPACE, POOLS_NAMESPACE):
            self.core.create_namespace({"metadata": {"name": namespace}})
        # Made by kube-controller-manager in a real cluster; a pod cannot be created without it.
        self.core.create_namespaced_service_account(
            POOLS_NAMESPACE, {"metadata": {"name": "default"}}
        )
        [crd] = documents(KEDA_CRD)
        client.ApiextensionsV1Api(self.admin).create_custom_resource_definition(crd)
        for path in (RBAC, LEASE_RBAC):
            for doc in documents(path):
                utils.create_from_dict(self.admin, doc)
        token = self.core.create_namespaced_service_account_token(
            ACCOUNT,
            CONTROLLER_NAMESPACE,
            {"spec": {"audiences": [], "expirationSeconds": TOKEN_SECONDS}},
        )
        self.plane.kubeconfig(self.kubeconfig, token.status.token)
        self._wait_for_scaled_objects()
        return self

    def _wait_for_scaled_objects(self, timeout: float = 30.0) -> None:
        """A new CRD is served once the API server has established it."""
        custom = client.CustomObjectsApi(self.admin)
        deadline = time.monotonic() + timeout
        while True:
            try:
                custom.list_namespaced_custom_object(
                    "keda.sh", "v1alpha1", POOLS_NAMESPACE, "scaledobjects"
                )
                return
            except ApiException as error:
                if error.status != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(0.05)  # polling the API server, with a deadline

    def deployment(self, name: str, replicas: int = 0) -> None:
        """A Deployment in the pools' namespace (no pod will run: there is no kubelet)."""
        labels = {"app": name}
        self.apps.create_namespaced_deployment(
            POOLS_NAMESPACE,
            {
                "metadata": {"name": name, "labels": labels},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "worker", "image": "worker:1"}]},
                    },
                },
            },
        )

    def lease(self) -> dict[str, Any] | None:
        """The leader's Lease of deploy/options/rbac-kubernetes-lease.yaml, if it exists."""
        try:
            lease = self.coordination.read_namespaced_lease(LEASE, CONTROLLER_NAMESPACE)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return dict(self.admin.sanitize_for_serialization(lease))

    def forget_lease(self) -> None:
        """Delete the Lease, so that a daemon started next need not wait out another's."""
        try:
            self.coordination.delete_namespaced_lease(LEASE, CONTROLLER_NAMESPACE)
        except ApiException as error:
            if error.status != 404:
                raise

    def ready_pod(self, name: str, deployment: str) -> None:
        """A pod the Deployment's selector selects, made ready by hand (no kubelet runs)."""
        self.core.create_namespaced_pod(
            POOLS_NAMESPACE,
            {
                "metadata": {"name": name, "labels": {"app": deployment}},
                "spec": {
                    "containers": [{"name": "worker", "image": "worker:1"}],
                    "automountServiceAccountToken": False,  # no token controller runs either
                },
            },
        )
        self.core.patch_namespaced_pod_status(
            name,
            POOLS_NAMESPACE,
            {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
        )

    def scaled_object(
        self, name: str, deployment: str, annotations: dict[str, str] | None = None
    ) -> None:
        """A KEDA ScaledObject in the pools' namespace that scales this Deployment on its
        NATS JetStream consumer (of the same name), as KEDA's docs write one."""
        client.CustomObjectsApi(self.admin).create_namespaced_custom_object(
            "keda.sh",
            "v1alpha1",
            POOLS_NAMESPACE,
            "scaledobjects",
            {
                "apiVersion": "keda.sh/v1alpha1",
                "kind": "ScaledObject",
                "metadata": {"name": name, "annotations": annotations or {}},
                "spec": {
                    "scaleTargetRef": {"name": deployment},
                    "minReplicaCount": 0,
                    "triggers": [
                        {
                            "type": "nats-jetstream",
                            "metadata": {
                                "natsServerMonitoringEndpoint": "nats.nats.svc:8222",
                                "account": "$G",
                                "stream": "AGENT_TASKS",
                                "consumer": deployment,
                                "lagThreshold": "1",
                            },
                        }
                    ],
                },
            },
        )

    def scaled_object_annotations(self, name: str) -> dict[str, str]:
        """The ScaledObject's annotations as an operator would read them now."""
        found = client.CustomObjectsApi(self.admin).get_namespaced_custom_object(
            "keda.sh", "v1alpha1", POOLS_NAMESPACE, "scaledobjects", name
        )
        return dict(found.get("metadata", {}).get("annotations") or {})

    def replicas(self, name: str) -> int:
        """What the Deployment's scale subresource says now."""
        scale = self.apps.read_namespaced_deployment_scale(name, POOLS_NAMESPACE)
        return int(scale.spec.replicas or 0)

    def set_role(self, role: dict[str, Any], timeout: float = 30.0) -> None:
        """Replace deploy/'s Role in the cluster, and wait until the API server's authorizer
        says so for each of the Role's rights."""
        self.rbac.replace_namespaced_role(role["metadata"]["name"], POOLS_NAMESPACE, role)
        granted = set(rights(role))
        deadline = time.monotonic() + timeout
        while any(self.allowed(r) != (r in granted) for r in rights(deploy_role())):
            if time.monotonic() > deadline:
                raise AssertionError(f"the Role's change not in force within {timeout:g} s")
            time.sleep(0.05)  # polling the API server, with a deadline

    def allowed(self, right: Right, name: str = "", namespace: str = POOLS_NAMESPACE) -> bool:
        """Whether the API server lets agentdash's ServiceAccount do this in the namespace,
        to the object of this name if one is given (a SubjectAccessReview: the authorizer's
        own answer)."""
        group, resource, verb = right
        plural, _, subresource = resource.partition("/")
        review = client.AuthorizationV1Api(self.admin).create_subject_access_review(
            {
                "spec": {
                    "user": USER,
                    "groups": ["system:serviceaccounts", "system:authenticated"],
                    "resourceAttributes": {
                        "namespace": namespace,
                        "group": group,
                        "resource": plural,
                        "subresource": subresource,
                        "verb": verb,
                        "name": name,
                    },
                }
            }
        )
        return bool(review.status.allowed)

    def wait_allowed(
        self, right: Right, name: str = "", namespace: str = POOLS_NAMESPACE, timeout: float = 30.0
    ) -> None:
        """Until the API server's authorizer lets agentdash do this (a binding just made)."""
        deadline = time.monotonic() + timeout
        while not self.allowed(right, name, namespace):
            if time.monotonic() > deadline:
                raise AssertionError(f"{right} on {name!r} not allowed within {timeout:g} s")
            time.sleep(0.05)  # polling the API server, with a deadline

    def apply(self, docs: list[dict[str, Any]]) -> None:
        """Each ServiceAccount, Role and RoleBinding created, or replaced if it exists (a
        ServiceAccount that exists is left as it is)."""
        for doc in docs:
            name, namespace = doc["metadata"]["name"], doc["metadata"]["namespace"]
            create, replace = {
                "ServiceAccount": (self.core.create_namespaced_service_account, None),
                "Role": (self.rbac.create_namespaced_role, self.rbac.replace_namespaced_role),
                "RoleBinding": (
                    self.rbac.create_namespaced_role_binding,
                    self.rbac.replace_namespaced_role_binding,
                ),
            }[doc["kind"]]
            try:
                create(namespace, doc)
            except ApiException as error:
                if error.status != 409:
                    raise
                if replace is not None:
                    replace(name, namespace, doc)

    def remove(self, kind: str, name: str, namespace: str) -> None:
        """Delete a Role or a RoleBinding, if it exists."""
        delete = {
            "Role": self.rbac.delete_namespaced_role,
            "RoleBinding": self.rbac.delete_namespaced_role_binding,
        }[kind]
        try:
            delete(name, namespace)
        except ApiException as error:
            if error.status != 404:
                raise

    def close(self) -> None:
        self.admin.close()
