"""What a platform team applies: every manifest in deploy/ against the Kubernetes schema; the
Deployment's pods (privileges, spread, the disruption budget), the NetworkPolicy around them,
the ServiceMonitor that scrapes them, and the command line and secrets the daemon runs with."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from agentdash.cli import build_parser
from agentdash.daemon import parse_listen
from tests.support.deploy import DAEMON, container, example_config, manifests, only, pod

KUBERNETES = ["1.30.0", kubernetes_validate.latest_version()]
"""The oldest minor still widely run, and the newest the package knows."""
CRDS = {"ServiceMonitor", "PrometheusRule"}
"""The Prometheus Operator's kinds, outside the Kubernetes schema (checked by their tests)."""


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_the_deployment_runs_with_a_read_only_root_no_privileges_and_bounded_resources() -> None:
    spec, main = pod()["spec"], container()
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"cpu", "memory"} <= main["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= main["resources"]["limits"].keys()

    (tmp,) = [m for m in main["volumeMounts"] if m["mountPath"] == "/tmp"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[tmp["name"]]
    assert not tmp.get("readOnly", False)


def test_the_two_replicas_spread_over_nodes_and_a_drain_leaves_one_running() -> None:
    workload, labels = only("Deployment"), pod()["metadata"]["labels"]
    spread = {c["topologyKey"]: c for c in pod()["spec"]["topologySpreadConstraints"]}
    assert spread.keys() == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    for constraint in spread.values():
        assert constraint["maxSkew"] == 1
        assert labels_match(constraint["labelSelector"]["matchLabels"], labels)

    budget = only("PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1 < workload["spec"]["replicas"]
    assert labels_match(budget["spec"]["selector"]["matchLabels"], labels)
    assert budget["metadata"]["namespace"] == workload["metadata"]["namespace"]


def ports(rule: dict[str, Any]) -> set[tuple[int, str]]:
    return {(p["port"], p.get("protocol", "TCP")) for p in rule["ports"]}


def admits_everyone(peer: dict[str, Any]) -> bool:
    """Whether a NetworkPolicy peer matches every pod or address: an empty selector, a selector
    alone that matches every namespace, or an ipBlock of the whole Internet."""
    if "ipBlock" in peer:
        return peer["ipBlock"]["cidr"] in {"0.0.0.0/0", "::/0"}
    selectors = [peer.get("namespaceSelector"), peer.get("podSelector")]
    return not any(s and (s.get("matchLabels") or s.get("matchExpressions")) for s in selectors)


def test_the_metrics_port_is_admitted_only_from_the_monitoring_namespaces_prometheus() -> None:
    spec = only("NetworkPolicy")["spec"]
    for rule in spec["ingress"]:
        assert rule.get("from"), "a rule with no `from` admits every pod and address"
        assert not [peer for peer in rule["from"] if admits_everyone(peer)]
    (rule,) = spec["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
    scraper = [r["to"] for r in spec["egress"] if ports(r) == {(9090, "TCP")}]
    assert scraper == [[peer]]  # the Prometheus agentdash reads is the one that scrapes it


def test_the_network_policy_admits_the_metrics_port_and_reaches_only_what_agentdash_uses() -> None:
    policy = only("NetworkPolicy")
    spec = policy["spec"]
    assert labels_match(spec["podSelector"]["matchLabels"], pod()["metadata"]["labels"])
    assert policy["metadata"]["namespace"] == only("Deployment")["metadata"]["namespace"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}  # everything else denied

    (metrics_port,) = [p["containerPort"] for p in container()["ports"] if p["name"] == "http"]
    assert [ports(rule) for rule in spec["ingress"]] == [{(metrics_port, "TCP")}]

    nats = urlsplit(example_config().nats.url)
    egress = [ports(rule) for rule in spec["egress"]]
    assert egress == [
        {(53, "UDP"), (53, "TCP")},  # DNS
        {(nats.port, "TCP")},  # NATS, where configmap.yaml says it is
        {(443, "TCP"), (6443, "TCP")},  # the API server (its Service, and its endpoints)
        {(9090, "TCP")},  # Prometheus, for a `prometheus:` token source
    ]
    # NATS is named by namespace and label: the namespace the config's URL names.
    (nats_peer,) = spec["egress"][1]["to"]
    namespace = nats_peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    assert nats.hostname == f"nats.{namespace}"


def test_the_service_monitor_scrapes_metrics_from_both_daemons() -> None:
    monitor, service = only("ServiceMonitor"), only("Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    namespace = only("Deployment")["metadata"]["namespace"]
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"] == namespace
    assert namespace in monitor["spec"]["namespaceSelector"]["matchNames"]
    assert labels_match(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert labels_match(service["spec"]["selector"], pod()["metadata"]["labels"])

    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    named = {p["name"]: p["containerPort"] for p in container()["ports"]}
    assert named[port["targetPort"]] == 9090 == int(DAEMON[-1].lstrip(":"))


@pytest.mark.parametrize("version", KUBERNETES)
@pytest.mark.parametrize(
    ("path", "doc"),
    [(p, d) for p, d in manifests() if d["kind"] not in CRDS],
    ids=lambda v: v if isinstance(v, str) else f"{v['kind']}/{v['metadata']['name']}",
)
def test_every_manifest_is_valid_against_the_kubernetes_schema(
    path: str, doc: dict[str, Any], version: str
) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def test_the_schema_check_refuses_a_misspelt_field() -> None:
    """Strict: a typo is an error, not a field the API server would quietly drop."""
    workload = copy.deepcopy(only("Deployment"))
    security = workload["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    security["readOnlyRootFileSystem"] = security.pop("readOnlyRootFilesystem")
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFileSystem"):
        kubernetes_validate.validate(workload, KUBERNETES[-1], strict=True)


def test_the_deployment_runs_the_daemon_with_flags_the_cli_has_and_probes_its_port() -> None:
    """deployment.yaml's command line, read by agentdash's own parser (an unknown flag or a
    bad value exits 2); the probes and the scrape on the port --http listens on."""
    main = container()
    assert main["command"] == ["agentdash"]
    args = build_parser().parse_args(main["args"])
    assert args.controller_only
    assert args.command is None
    # --config is the ConfigMap's file, where the pod mounts it.
    config_map = only("ConfigMap")["metadata"]["name"]
    (volume,) = [v["name"] for v in pod()["spec"]["volumes"]
                 if v.get("configMap", {}).get("name") == config_map]  # fmt: skip
    (mount,) = [m["mountPath"] for m in main["volumeMounts"] if m["name"] == volume]
    assert args.config.parent == Path(mount)
    assert args.config.name in only("ConfigMap")["data"]
    _, port = parse_listen(args.http)
    named = {p["name"]: p["containerPort"] for p in main["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        assert named[main[probe]["httpGet"]["port"]] == port, probe
    assert int(pod()["metadata"]["annotations"]["prometheus.io/port"]) == port


def test_the_daemon_logs_in_to_nats_with_the_url_of_a_secret() -> None:
    """configmap.yaml's nats.url names no user, and nats-accounts.conf lets none in without
    one: as shipped, the daemon could not log in. Its URL, password included, comes from a
    Secret into AGENTDASH_NATS_URL, which beats the config's."""
    (env,) = [e for e in container().get("env", []) if e["name"] == "AGENTDASH_NATS_URL"]
    assert env["valueFrom"]["secretKeyRef"] == {"name": "agentdash-nats", "key": "url"}
    assert "@" not in example_config().nats.url  # no password in a ConfigMap
