"""`agentdash --controller-only` run as deploy/ runs it: it serves every metric and label the
dashboard's and the alert rules' queries read, answers the probes and the scrape where the
manifests ask, and leads logged in to NATS as the shipped accounts' `agentdash` user."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from prometheus_client.parser import text_string_to_metric_families

from agentdash.nats_server import NatsServer
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually
from tests.support.accounts import AccountsServer
from tests.support.daemon import Daemon
from tests.support.deploy import (
    DASHBOARD,
    container,
    example_config,
    held_fleet,
    only,
    pod,
    queries,
    rule_queries,
)
from tests.support.prometheus import (
    SCRAPE_LABELS,
    SCRAPE_SERIES,
    label_names,
    metric_names,
    served_text,
)


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
