"""What deploy/ ships, read as a platform team's cluster would read it: the manifests (the
Deployment's pod and its container, the example config in the ConfigMap), the Grafana
dashboard's and the alert rules' queries, and the example fleet set up on a test's NATS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.core.config import Config, parse_config
from controller.sources.jetstream_queues import ensure_queues

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "agentdash.json"
DAEMON = ["agentdash", "--controller-only", "--config", "/etc/agentdash/agentdash.yaml",
          "--http", ":9090"]  # fmt: skip
PROMETHEUS_FILES = DEPLOY / "prometheus"
"""Prometheus's own files (the alert rules), not Kubernetes objects: tests/test_alerts.py."""
RULE_FILES = [DEPLOY / "prometheus" / "agentdash-rules.yaml", DEPLOY / "prometheusrule.yaml"]
"""The alert rules as a rules file and as the PrometheusRule: both are what someone loads."""


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


def queries() -> list[str]:
    """Every query of the Grafana dashboard: its panels', and its variables'."""
    dashboard = json.loads(DASHBOARD.read_text())
    found = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            found.append(query["query"] if isinstance(query, dict) else query)
    return found


def rule_queries() -> list[str]:
    """Every alert's expression, from both files."""
    found = []
    for path in RULE_FILES:
        doc = yaml.safe_load(path.read_text())
        groups = doc["spec"]["groups"] if doc.get("kind") == "PrometheusRule" else doc["groups"]
        found += [rule["expr"] for group in groups for rule in group["rules"]]
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
