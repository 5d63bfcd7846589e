"""What a platform team deploys: the Dockerfile (read, since no docker daemon runs here), every
manifest in deploy/ against the Kubernetes schema, and the Grafana dashboard's and the alert
rules' queries against the metrics agentdash really serves."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import shlex
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import nats
import pytest
import yaml
from nats.aio.client import Client
from prometheus_client.parser import text_string_to_metric_families

from agentdash.cli import build_parser
from agentdash.daemon import parse_listen
from agentdash.nats_server import NatsServer
from controller.actuators.simcluster import SimulatedCluster
from controller.core.config import Config, parse_config
from controller.core.events import TickEvent
from controller.runtime.loop import Reconciler
from controller.runtime.metrics import Metrics
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import TokenLedger
from tests.support import FakeClock, eventually
from tests.support.accounts import AccountsServer
from tests.support.daemon import Daemon
from tests.support.prometheus import Prometheus

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "agentdash.json"
DAEMON = ["agentdash", "--controller-only", "--config", "/etc/agentdash/agentdash.yaml",
          "--http", ":9090"]  # fmt: skip
KUBERNETES = ["1.30.0", kubernetes_validate.latest_version()]
"""The oldest minor still widely run, and the newest the package knows."""


# --- reading the files -----------------------------------------------------------------------


PROMETHEUS_FILES = DEPLOY / "prometheus"
"""Prometheus's own files (the alert rules), not Kubernetes objects: tests/test_alerts.py."""
CRDS = {"ServiceMonitor", "PrometheusRule"}
"""The Prometheus Operator's kinds, outside the Kubernetes schema (checked by their tests)."""


def manifests() -> list[tuple[str, dict[str, Any]]]:
    """Every object in every YAML file under deploy/ (but Prometheus's own files), with the
    file it came from."""
    return [
        (str(path.relative_to(DEPLOY)), doc)
        for path in sorted(DEPLOY.rglob("*.yaml"))
        if not path.is_relative_to(PROMETHEUS_FILES)
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def only(kind: str) -> dict[str, Any]:
    (doc,) = [doc for _, doc in manifests() if doc["kind"] == kind]
    return doc


def pod() -> dict[str, Any]:
    return dict(only("Deployment")["spec"]["template"])


def container() -> dict[str, Any]:
    (main,) = pod()["spec"]["containers"]
    return dict(main)


def example_config() -> Config:
    text = only("ConfigMap")["data"]["agentdash.yaml"]
    return parse_config(yaml.safe_load(text), "deploy/configmap.yaml")


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions (continuations joined, ARGs before the first FROM
    substituted), one list per stage."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    steps = [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]
    found: list[list[tuple[str, str]]] = []
    defaults: dict[str, str] = {}
    for keyword, rest in steps:
        if keyword.upper() == "ARG" and not found:
            name, _, value = rest.partition("=")
            defaults[name] = value
            continue
        if keyword.upper() == "FROM":
            for name, value in defaults.items():
                rest = rest.replace(f"${{{name}}}", value)
            found.append([])
        found[-1].append((keyword.upper(), rest))
    return found


def each(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [rest for k, rest in stage if k == keyword]


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


# --- the image -------------------------------------------------------------------------------


def test_the_image_builds_the_wheel_in_one_stage_and_installs_it_into_a_slim_python() -> None:
    build, runtime = stages()
    (source,) = each(build, "FROM")
    name = source.split()[-1]
    assert re.fullmatch(r"(?i)\S+ AS \S+", source), "the build stage is named"
    assert any("pip wheel" in run for run in each(build, "RUN"))

    (base,) = each(runtime, "FROM")
    version = re.fullmatch(r"python:3\.(\d+)-slim\S*", base)
    assert version, base
    assert int(version[1]) >= 11, base
    # It installs what the build stage made, and never copies in the source tree itself.
    installs = [run for run in each(runtime, "RUN") if "pip install" in run]
    assert installs
    assert all(f"from={name}" in run for run in installs)
    assert all(f"--from={name}" in copied for copied in each(runtime, "COPY"))


def test_the_image_runs_the_daemon_as_a_numeric_user_that_is_not_root() -> None:
    runtime = stages()[-1]
    user = each(runtime, "USER")[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), "runAsNonRoot can check only a numeric UID"
    assert int(uid) != 0
    assert gid.isdigit()
    assert int(gid) != 0
    assert pod()["spec"]["securityContext"]["runAsUser"] == int(uid)

    (entrypoint,) = each(runtime, "ENTRYPOINT")
    assert json.loads(entrypoint) == DAEMON
    # The Deployment says the same explicitly, so `kubectl get -o yaml` shows what runs.
    assert container()["command"] + container()["args"] == DAEMON


def test_the_image_writes_nothing_outside_tmp() -> None:
    env: dict[str, str] = {}
    for line in each(stages()[-1], "ENV"):
        env |= dict(word.split("=", 1) for word in shlex.split(line))
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    for home in ("HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        assert Path(env[home]).is_relative_to("/tmp"), home


def test_dockerignore_keeps_the_venv_and_git_out_of_the_build() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv"} <= set(ignored)
    assert not {"agentdash", "controller", "styles", "pyproject.toml"} & set(ignored)


# --- the Deployment, its neighbours ----------------------------------------------------------


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


# --- the Grafana dashboard -------------------------------------------------------------------

PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                "group_left", "group_right", "inf", "nan"}  # fmt: skip
SCRAPE_LABELS = {"instance", "job", "namespace", "cluster"}
"""Labels Prometheus adds to every series it scrapes (`instance`, `job`), and those that tell
installs apart: the `namespace` its discovery adds (the ServiceMonitor's), and the `cluster` a
Prometheus over several clusters adds (grouping by one that is absent groups by nothing)."""
SCRAPE_SERIES = {"up"}
"""What Prometheus writes of each target itself: 1 while it answers a scrape, else 0."""


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            found.append(query["query"] if isinstance(query, dict) else query)
    return found


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads: identifiers that are not functions,
    keywords, label names (in braces or grouping clauses) or durations."""
    expr = re.sub(r"label_values\((.+),\s*\w+\)", r"\1", expr)  # Grafana's: (series, label)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    words = re.finditer(r"(?<![\w.$])([a-zA-Z_:][\w:]*)\s*(\()?", expr)
    return {w[1] for w in words if not w[2] and w[1].lower() not in PROMQL_WORDS}


def label_names(expr: str) -> set[str]:
    """Every label an expression matches on or groups by."""
    grouped = re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr)
    matched = re.findall(r"\{([^}]*)\}", expr)
    names = {name.strip() for group in grouped for name in group.split(",") if name.strip()}
    for matchers in matched:
        names |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", re.sub(r'"[^"]*"', "", matchers)))
    return names


def test_the_metric_name_reader_finds_names_and_only_names() -> None:
    expr = ('histogram_quantile(0.99, sum by (le) (rate(a_bucket{pool=~"$pool"}[5m]) '
            'and on (instance) (b == 1))) or vector(0)')  # fmt: skip
    assert metric_names(expr) == {"a_bucket", "b"}
    assert label_names(expr) == {"le", "instance", "pool"}
    assert metric_names("label_values(agentdash_pool_lag_tasks, pool)") == {
        "agentdash_pool_lag_tasks"
    }
    assert metric_names('label_values(a{cluster="$cluster", job="$job"}, pool)') == {"a"}
    assert selectors('max(a{job="$job"} and on (instance) (b == 1)) or vector(0)') == [
        ("a", {"job": "$job"}),
        ("b", {}),
    ]


INSTALL = {"cluster": "$cluster", "namespace": "$namespace", "job": "$job"}
"""What each series the dashboard reads is matched to: the install picked, by the labels the
alert rules group by (the scrape's; a label a Prometheus does not add is empty, and so is its
picker: Grafana sends "" for a picker that finds no value)."""
PICKERS = list(INSTALL)
"""The install's pickers, each offering what the ones before it leave."""


def selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """Each series an expression reads, with the matchers it is read with (label: value)."""
    names = metric_names(expr)
    found = re.finditer(r"(?<![\w.$])([a-zA-Z_:][\w:]*)(\{[^}]*\})?(?!\s*\()", expr)
    return [
        (m[1], dict(re.findall(r'(\w+)\s*=~?\s*"([^"]*)"', m[2] or "")))
        for m in found
        if m[1] in names
    ]


def test_every_panel_and_the_pool_picker_read_the_install_picked() -> None:
    """One Prometheus may scrape several installs (two clusters, two namespaces): a panel
    that read a series without the install's matchers would sum them (two leaders, pools of
    the same name counted once)."""
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    read = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    read.append(variables["pool"]["query"]["query"])
    for expr in read:
        for name, matchers in selectors(expr):
            assert INSTALL.items() <= matchers.items(), f"{expr}: {name} not of the install"
    for before, picker in enumerate(PICKERS):
        query = variables[picker]["query"]["query"]
        assert query.endswith(f", {picker})"), query
        ((_, matchers),) = selectors(query)
        assert matchers == {p: INSTALL[p] for p in PICKERS[:before]}, query
        # one install at a time: "All" would sum them
        assert (variables[picker]["multi"], variables[picker]["includeAll"]) == (False, False)


async def example_metrics(nc: Client) -> Metrics:
    """agentdash's metrics for the example config after two real ticks on NATS (one pool's
    consumer missing, so it is held as stale; another with work queued, so it scales)."""
    cfg = example_config()
    await ensure_queues(nc, cfg)
    js = nc.jetstream()
    missing, busy = "globex-coder", "acme-research"
    await js.delete_consumer(cfg.pools[missing].queue.stream, cfg.pools[missing].queue.consumer)
    for i in range(6):
        await js.publish(cfg.subject(busy), json.dumps({"id": i}).encode())
    clock = FakeClock()
    lag = JetStreamLagSource(nc, cfg, clock=clock)
    await lag.start()
    cluster = SimulatedCluster(cfg, clock=clock)
    loop = Reconciler(cfg, lag, TokenLedger(cfg), cluster, clock=clock)
    metrics = Metrics(cfg)
    events = loop.bus.subscribe()
    try:
        for _ in range(2):
            await loop.tick()
            clock.advance(cfg.controller.interval_seconds)
    finally:
        await cluster.close()
    while not events.empty():  # as the daemon relays them (agentdash/runtime.py)
        event = events.get_nowait()
        metrics.observe(event)
        if isinstance(event, TickEvent):
            metrics.observe_snapshot(loop.snapshot())
            metrics.observe_state(loop.stale, loop.leading)
    return metrics


def served(metrics: Metrics) -> dict[str, set[str]]:
    """What /metrics serves: each sample name, with the labels it carries."""
    return served_text(metrics.render().decode())


async def test_every_metric_and_label_the_dashboard_queries_is_one_agentdash_serves(
    nc: Client,
) -> None:
    serves = served(await example_metrics(nc))
    assert serves["agentdash_pool_stale"] == {"pool", "reason"}  # the held pool is there
    for expr in queries():
        names = metric_names(expr)
        assert names, expr
        assert names <= serves.keys(), f"{expr}: {names - serves.keys()} not served"
        carried = set().union(*(serves[name] for name in names)) | SCRAPE_LABELS
        assert label_names(expr) <= carried, f"{expr}: {label_names(expr) - carried}"


def picked(page: str) -> set[str]:
    """The pools the dashboard's $pool variable offers over a /metrics page: those with a
    series of the metric it reads."""
    (picker,) = [v for v in json.loads(DASHBOARD.read_text())["templating"]["list"]
                 if v["name"] == "pool"]  # fmt: skip
    asked = re.fullmatch(r"label_values\((\w+)(?:\{[^}]*\})?,\s*(\w+)\)", picker["query"]["query"])
    assert asked is not None, picker["query"]
    metric, label = asked.groups()
    families = text_string_to_metric_families(page)
    return {s.labels[label] for f in families for s in f.samples if s.name == metric}


RULE_FILES = [DEPLOY / "prometheus" / "agentdash-rules.yaml", DEPLOY / "prometheusrule.yaml"]
"""The alert rules as a rules file and as the PrometheusRule: both are what someone loads."""


def rule_queries() -> list[str]:
    """Every alert's expression, from both files."""
    found = []
    for path in RULE_FILES:
        doc = yaml.safe_load(path.read_text())
        groups = doc["spec"]["groups"] if doc.get("kind") == "PrometheusRule" else doc["groups"]
        found += [rule["expr"] for group in groups for rule in group["rules"]]
    return found


def served_text(text: str) -> dict[str, set[str]]:
    """What a /metrics page holds: each sample name, with the labels it carries."""
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found


async def held_fleet(tmp_path: Path, nats_server: NatsServer, nc: Client) -> tuple[Path, Config]:
    """configmap.yaml's fleet on this NATS, a tier with a target, one pool's consumer deleted
    so it is held, tasks queued for another so it scales: its file, and its config."""
    fleet = yaml.safe_load(only("ConfigMap")["data"]["agentdash.yaml"])
    fleet["nats"]["url"] = nats_server.url
    fleet["controller"]["interval_seconds"] = 1
    fleet["tiers"]["enterprise"]["target_wait_seconds"] = 60
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(fleet))
    cfg = parse_config(fleet, str(path))
    await ensure_queues(nc, cfg)
    js = nc.jetstream()
    held = cfg.pools["globex-coder"].queue
    await js.delete_consumer(held.stream, held.consumer)
    for i in range(6):
        await js.publish(cfg.subject("acme-research"), json.dumps({"id": i}).encode())
    return path, cfg


@pytest.mark.e2e
async def test_every_metric_and_label_deploy_queries_is_one_the_running_daemon_serves(
    tmp_path: Path, nats_server: NatsServer, nc: Client
) -> None:
    """The dashboard's and the alert rules' PromQL against `agentdash --controller-only`'s own
    /metrics (configmap.yaml's fleet, a tier with a target, one pool's consumer deleted so it
    is held, tasks queued for another): a panel or an alert on a series it does not serve is
    empty forever, and says nothing."""
    path, cfg = await held_fleet(tmp_path, nats_server, nc)
    daemon = Daemon(path)
    page: dict[str, set[str]] = {}
    text = ""

    async def all_there() -> bool:
        nonlocal page, text
        text = await daemon.metrics()
        page = served_text(text)
        return {"agentdash_pool_stale", "agentdash_scale_events_total"} <= page.keys()

    try:
        await daemon.wait_health(lambda h: h["role"] == "leader")
        await eventually(all_there, timeout=30, every=0.5)
        # What the kubelet and Prometheus ask for, as deployment.yaml and servicemonitor.yaml
        # say: served (the readiness probe may say 503, never 404).
        asked = {probe: container()[probe]["httpGet"]["path"]
                 for probe in ("livenessProbe", "readinessProbe")}  # fmt: skip
        asked["prometheus.io/path"] = pod()["metadata"]["annotations"]["prometheus.io/path"]
        (endpoint,) = only("ServiceMonitor")["spec"]["endpoints"]
        asked["ServiceMonitor"] = endpoint["path"]
        answers = {who: await asyncio.to_thread(status, daemon.port, path)
                   for who, path in asked.items()}  # fmt: skip
        assert answers["livenessProbe"] == 200, answers
        assert all(code in {200, 503} for code in answers.values()), answers
    finally:
        daemon.stop()
    # The held pool is the one an operator opens the dashboard to look at: on the lag (no
    # series while a pool is held) it was not there to pick.
    assert picked(text) == set(cfg.pools)
    for expr in queries() + rule_queries():
        names = metric_names(expr)
        assert names, expr
        served_names = page.keys() | SCRAPE_SERIES
        assert names <= served_names, f"{expr}: {names - served_names} not served"
        carried = set().union(*(page.get(name, set()) for name in names)) | SCRAPE_LABELS
        assert label_names(expr) <= carried, f"{expr}: {label_names(expr) - carried}"


def status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


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


def test_the_dashboard_shows_what_an_operator_asks_about() -> None:
    asked = set().union(*(metric_names(expr) for expr in queries()))
    assert {
        "agentdash_pool_lag_tasks",  # queue lag per pool
        "agentdash_pool_desired_replicas",  # desired ...
        "agentdash_pool_current_replicas",  # ... against current
        "agentdash_decisions_total",  # decisions by rule
        "agentdash_scale_events_total",
        "agentdash_tenant_budget_used_ratio",  # budget burn
        "agentdash_pool_stale",
        "agentdash_bad_messages_total",
        "agentdash_leader",
        "agentdash_pool_capped",  # pools held back: at their max_replicas ...
        "agentdash_pool_starved",  # ... or by a shared ceiling
        "agentdash_controller_paused",  # scaling off by an operator's word
        "agentdash_controller_dry_run",
    } <= asked


async def test_every_panel_shows_data_from_a_real_prometheus_scraping_agentdash(
    tmp_path: Path, nats_server: NatsServer, nc: Client
) -> None:
    """Each query, as Grafana would send it, parses and answers with series: no panel of the
    dashboard is empty or an error over a running `agentdash --controller-only` (its metrics
    fed as the daemon feeds them: a pool held has no lag series, which metrics fed by hand
    from a loop's snapshot had). The same Prometheus scrapes a second install of the same
    fleet (its own NATS, another namespace), as one over several installs does: the pickers
    offer both, and each panel shows the install picked alone."""
    path, _ = await held_fleet(tmp_path, nats_server, nc)
    other_server = NatsServer(tmp_path / "second" / "nats").start()
    daemons: list[Daemon] = []
    prometheus = None
    try:
        async with await nats.connect(other_server.url) as other_nc:
            other_path, _ = await held_fleet(tmp_path / "second", other_server, other_nc)
        daemons = [Daemon(path), Daemon(other_path)]
        prometheus = Prometheus(
            tmp_path, [d.port for d in daemons],
            labels={daemons[0].port: {"namespace": "first"},
                    daemons[1].port: {"namespace": "second"}},
        )  # fmt: skip
        await panels_show_each_install_alone(prometheus)
    finally:
        if prometheus is not None:
            prometheus.stop()
        for daemon in daemons:
            daemon.stop()
        other_server.close()


def as_grafana_sends(query: str, picked: dict[str, str]) -> str:
    """`query` with the dashboard's variables filled as Grafana fills them; Grafana answers
    label_values(series, label) itself, from the series given."""
    values = {"$__rate_interval": "1m", "$pool": ".*", **{f"${k}": v for k, v in picked.items()}}
    sent = re.sub(r"\$__rate_interval|\$\w+", lambda m: values.get(m[0], m[0]), query)
    return re.sub(r"label_values\((.+),\s*(\w+)\)", r"count by (\2) (\1)", sent)


async def panels_show_each_install_alone(prometheus: Prometheus) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v["query"]["query"] for v in dashboard["templating"]["list"]
                 if v["type"] == "query"}  # fmt: skip
    panels = {t["expr"]: panel["title"] for panel in dashboard["panels"]
              for t in panel["targets"]}  # fmt: skip
    unanswered: dict[str, str] = {}

    async def answer(query: str) -> list[dict[str, Any]] | None:
        try:
            return await asyncio.to_thread(prometheus.query, query)
        except urllib.error.HTTPError as error:  # a bad query: 400 with the reason
            unanswered[query] = error.read().decode()
            return None

    async def offered(picker: str, picked: dict[str, str]) -> set[str]:
        found = await answer(as_grafana_sends(variables[picker], picked)) or []
        return {series["metric"].get(picker, "") for series in found}

    async def all_answered(picked: dict[str, str]) -> bool:
        unanswered.clear()
        for query in [*panels, variables["pool"]]:
            sent = as_grafana_sends(query, picked)
            if await answer(sent) == []:
                unanswered[sent] = "no series"
        return not unanswered

    picked = {"cluster": "", "namespace": "", "job": ""}

    async def both_offered() -> bool:
        return await offered("namespace", picked) == {"first", "second"}

    await eventually(both_offered, timeout=30, every=0.5)
    # Neither install has a cluster label: the picker finds none ("None"), and Grafana
    # sends "" for it, which is what a series without the label has.
    assert await offered("cluster", picked) == {""}
    for namespace in ("first", "second"):
        picked = {"cluster": "", "namespace": namespace, "job": ""}
        (picked["job"],) = await offered("job", picked)
        try:
            # rate() needs two scrapes, a second apart.
            await eventually(partial(all_answered, dict(picked)), timeout=40, every=0.5)
        except AssertionError:
            pytest.fail(f"panels without data for {namespace}: {unanswered}")
        # Each install has its leader: the panel counts one, not both.
        (leaders,) = [q for q, title in panels.items() if title == "Leaders"]
        assert [s["value"][1] for s in await answer(as_grafana_sends(leaders, picked)) or []] == [
            "1"
        ]
    # An install not scraped here: every panel is empty, or says 0.
    picked["namespace"] = "elsewhere"
    for query, title in panels.items():
        shown = await answer(as_grafana_sends(query, picked))
        assert shown is not None, unanswered
        assert {s["value"][1] for s in shown} <= {"0"}, (title, shown)


def test_the_dashboard_imports_cleanly_panels_unique_and_not_overlapping() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    # Any Prometheus: each panel uses the datasource picked in the dashboard's variable.
    (picker,) = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert (picker["type"], picker["query"]) == ("datasource", "prometheus")
    assert all(p["datasource"]["uid"] == "${datasource}" for p in panels)
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]  # Grafana's grid is 24 wide
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} covers {cells.get((x, y))}"
                cells[x, y] = panel["title"]


def test_the_daemon_logs_in_to_nats_with_the_url_of_a_secret() -> None:
    """configmap.yaml's nats.url names no user, and nats-accounts.conf lets none in without
    one: as shipped, the daemon could not log in. Its URL, password included, comes from a
    Secret into AGENTDASH_NATS_URL, which beats the config's."""
    (env,) = [e for e in container().get("env", []) if e["name"] == "AGENTDASH_NATS_URL"]
    assert env["valueFrom"]["secretKeyRef"] == {"name": "agentdash-nats", "key": "url"}
    assert "@" not in example_config().nats.url  # no password in a ConfigMap


@pytest.mark.e2e
async def test_the_daemon_leads_as_the_shipped_accounts_agentdash_user(
    tmp_path: Path, accounts_server: AccountsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """configmap.yaml's fleet, logged in as the Secret's URL says (the `agentdash` user of
    nats-accounts.conf as shipped): it makes its buckets, leads and is healthy."""
    url = accounts_server.url("agentdash")
    monkeypatch.setenv("AGENTDASH_NATS_URL", url)
    fleet = tmp_path / "agentdash.yaml"
    fleet.write_text(only("ConfigMap")["data"]["agentdash.yaml"])
    nc = await nats.connect(url)
    try:
        await ensure_queues(nc, example_config())
    finally:
        await nc.close()
    daemon = Daemon(fleet)
    try:
        health = await daemon.wait_health(lambda h: h["status"] == 200, timeout=30)
    finally:
        daemon.stop()
    assert health["role"] == "leader"


def test_the_stale_panels_show_the_leaders_view_as_the_alert_does() -> None:
    """A follower that cannot read a pool (its own NATS connection) holds nothing: the panels
    counted its view too, and showed a pool held that the leader scaled, beside an
    AgentdashPoolStale that stayed quiet."""
    panels = {p["title"]: p for p in json.loads(DASHBOARD.read_text())["panels"]}
    for title in ("Stale pools", "Stale pools and why"):
        (target,) = panels[title]["targets"]
        leader = 'agentdash_leader{cluster="$cluster", namespace="$namespace", job="$job"}'
        assert f"and on (instance) ({leader} == 1)" in target["expr"], title
