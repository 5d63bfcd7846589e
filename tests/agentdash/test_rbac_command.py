"""`agentdash rbac`: the Roles it prints are restricted to the config's Deployments, scale them
through the `scale` subresource, name no wildcard, and are what Kubernetes accepts.
(That the scaler needs exactly these rights: tests/controller/actuators/kubernetes/
test_manifests.py; that the real API server enforces the names: tests/kube/test_rbac_names.py.)"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from agentdash.cli import main
from tests.support.cli import EXAMPLE

EXAMPLE_DEPLOYMENTS = [
    "acme-research",
    "acme-support",
    "globex-coder",
    "globex-triage",
    "initech-summarize",
]
Right = tuple[str, str, str, tuple[str, ...]]
"""(API group, resource, verb, the names it is restricted to: none for any)."""


def write(tmp_path: Path, **kubernetes: Any) -> Path:
    """The example config, with these `kubernetes:` options."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["kubernetes"] = kubernetes
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def rbac(capsys: pytest.CaptureFixture[str], *args: str | Path) -> list[dict[str, Any]]:
    assert main(["rbac", *map(str, args)]) == 0
    return [doc for doc in yaml.safe_load_all(capsys.readouterr().out) if doc]


def roles(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Namespace -> its Role."""
    return {d["metadata"]["namespace"]: d for d in docs if d["kind"] == "Role"}


def rights(role: dict[str, Any]) -> set[Right]:
    return {
        (group, resource, verb, tuple(rule.get("resourceNames", ())))
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def writes(role: dict[str, Any]) -> set[Right]:
    return {right for right in rights(role) if right[2] not in ("list", "watch", "get")}


def test_the_example_config_may_scale_its_deployments_and_write_nothing_else_of_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs = rbac(capsys, "--config", EXAMPLE)

    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding"]
    (role,) = roles(docs).values()
    assert role["metadata"] == {"name": "agentdash", "namespace": "agents"}
    names = tuple(EXAMPLE_DEPLOYMENTS)
    assert writes(role) == {
        ("apps", "deployments/scale", "patch", names),  # replicas, and only of these
        ("", "pods", "patch", ()),  # idle pods go first: pods cannot be named ahead
        ("", "events", "create", ()),  # create cannot be named
    }


def test_no_rule_names_a_wildcard(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = write(tmp_path, annotate=True, lease={"namespace": "agentdash"})
    for role in roles(rbac(capsys, "--config", config)).values():
        for rule in role["rules"]:
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert not any("*" in item for item in rule.get(key, [])), rule


def test_with_annotate_the_deployments_may_be_patched_by_name_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (role,) = roles(rbac(capsys, "--config", write(tmp_path, annotate=True))).values()

    names = tuple(EXAMPLE_DEPLOYMENTS)
    assert {r for r in writes(role) if r[0] == "apps"} == {
        ("apps", "deployments/scale", "patch", names),
        ("apps", "deployments", "patch", names),
    }


def test_without_idle_first_no_pod_may_be_patched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (role,) = roles(rbac(capsys, "--config", write(tmp_path, pod_deletion_cost=False))).values()

    assert {r[0:2] for r in writes(role)} == {("apps", "deployments/scale"), ("", "events")}


def test_the_output_says_why_pods_are_not_restricted_by_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["rbac", "--config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out

    above = out[: out.index('resources: ["pods"]\n    verbs: ["patch"]')]
    comment = above[above.rindex("verbs:") :]  # the comment between the rule before and this
    assert "resourceNames cannot restrict pods" in " ".join(
        line.strip().removeprefix("# ") for line in comment.splitlines()
    )


def test_each_namespace_has_its_own_role_naming_only_its_own_deployments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    for name in ("globex-coder", "globex-triage"):
        data["pools"][name]["deployment"]["namespace"] = "globex"
        data["pools"][name]["take_over"] = True
    data["kubernetes"] = {"lease": {"namespace": "agentdash", "name": "leader"}}
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))

    docs = rbac(capsys, "--config", path)

    by_namespace = roles(docs)
    assert sorted(by_namespace) == ["agentdash", "agents", "globex"]
    assert ("apps", "deployments/scale", "patch", ("globex-coder", "globex-triage")) in rights(
        by_namespace["globex"]
    )
    assert ("apps", "deployments/scale", "patch", ("acme-research", "acme-support",
            "initech-summarize")) in rights(by_namespace["agents"])  # fmt: skip
    # KEDA's pause, only where a pool takes over from it
    assert ("keda.sh", "scaledobjects", "patch", ()) in rights(by_namespace["globex"])
    assert not any(r[0] == "keda.sh" and r[2] == "patch" for r in rights(by_namespace["agents"]))
    # the Lease: create cannot be named; the rest is by the Lease's name
    assert writes(by_namespace["agentdash"]) == {
        ("coordination.k8s.io", "leases", "create", ()),
        ("coordination.k8s.io", "leases", "patch", ("leader",)),
    }
    assert rights(by_namespace["agentdash"]) - writes(by_namespace["agentdash"]) == {
        ("coordination.k8s.io", "leases", "get", ("leader",))
    }
    bindings = [d for d in docs if d["kind"] == "RoleBinding"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == sorted(by_namespace)


def test_each_role_is_bound_to_the_daemons_service_account(
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs = rbac(capsys, "--config", EXAMPLE, "--serviceaccount", "ops:scaler")

    assert docs[0] == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "scaler", "namespace": "ops"},
    }
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "scaler", "namespace": "ops"}]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "agentdash",
    }


def test_the_default_service_account_is_deploys(capsys: pytest.CaptureFixture[str]) -> None:
    deploy = yaml.safe_load_all((EXAMPLE.parents[1] / "deploy" / "rbac.yaml").read_text())
    (account,) = [d for d in deploy if d and d["kind"] == "ServiceAccount"]

    assert rbac(capsys, "--config", EXAMPLE)[0] == account


@pytest.mark.parametrize("version", ["1.30.0", kubernetes_validate.latest_version()])
def test_every_document_is_valid_kubernetes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, version: str
) -> None:
    config = write(tmp_path, annotate=True, lease={"namespace": "agentdash"})
    for doc in rbac(capsys, "--config", config):
        kubernetes_validate.validate(copy.deepcopy(doc), version, strict=True)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--serviceaccount", "agentdash"], "--serviceaccount: expected NAMESPACE:NAME"),
        (["--serviceaccount", "Ops:x"], "--serviceaccount: expected a Kubernetes namespace"),
        (["--serviceaccount", "ops:"], "--serviceaccount: expected a Kubernetes name"),
    ],
)
def test_a_bad_service_account_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["rbac", "--config", str(EXAMPLE), *argv])
    out, err = capsys.readouterr()
    assert exited.value.code == 2
    assert (out, err.count("\n")) == ("", 1)
    assert expected in err


def test_a_bad_config_is_one_line_naming_file_and_field_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["pools"]["acme-research"]["deployment"]["name"] = "Research_Bot"
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))

    assert main(["rbac", "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"agentdash: {path}")
    assert "pools.acme-research.deployment.name: expected a Kubernetes name" in err
