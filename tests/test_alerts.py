"""The alert rules in deploy/: the plain rules file and the PrometheusRule hold the same rules;
they load (promtool, and a real Prometheus); each alert fires once its condition has held for
its `for`, not before, and not when it does not hold (promtool's unit tests, in virtual time);
and over a real Prometheus scraping agentdash's own metrics, each fires."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from prometheus_client import start_http_server

from controller.core.events import HealthEvent, TickEvent
from controller.core.model import QueueStats, Reason, ScaleDecision
from controller.runtime.metrics import Metrics
from tests.support import eventually, free_port
from tests.support.factories import config, pool
from tests.support.prometheus import Prometheus, instant_rules, promtool

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "agentdash-rules.yaml"
MANIFEST = ROOT / "deploy" / "prometheusrule.yaml"
ALERTS = ["AgentdashNoLeader", "AgentdashNotScaling", "AgentdashPoolStale",
          "AgentdashSourceFailing", "AgentdashPoolStarved", "AgentdashPoolAtMax",
          "AgentdashBudgetRunsOut", "AgentdashTasksWaitPastTarget"]  # fmt: skip


def generator() -> ModuleType:
    path = ROOT / "deploy" / "prometheus" / "generate.py"
    spec = importlib.util.spec_from_file_location("rules_generate", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rules() -> dict[str, dict[str, Any]]:
    """Each alert rule of the rules file, by name."""
    (group,) = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule for rule in group["rules"]}


def test_the_prometheus_rule_holds_the_rules_file_as_generated() -> None:
    assert MANIFEST.read_text() == generator().render(RULES.read_text()), (
        "deploy/prometheusrule.yaml differs: run `python deploy/prometheus/generate.py`"
    )
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == (
        "monitoring.coreos.com/v1",
        "PrometheusRule",
    )
    assert manifest["spec"] == yaml.safe_load(RULES.read_text())
    assert list(rules()) == ALERTS
    # beside the ServiceMonitor, picked by the same Prometheus Operator release
    monitor = yaml.safe_load((ROOT / "deploy" / "servicemonitor.yaml").read_text())
    assert manifest["metadata"]["namespace"] == monitor["metadata"]["namespace"]
    assert manifest["metadata"]["labels"]["release"] == monitor["metadata"]["labels"]["release"]


@pytest.mark.e2e
def test_promtool_finds_every_rule_sound() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout


INSTALL = {"cluster", "namespace", "job"}
"""The labels that tell installs apart (the scrape's: the metrics carry none of their own)."""


def test_every_rule_keeps_the_install_labels() -> None:
    """One Prometheus over several installs: an aggregation without them merges the installs'
    pools, tenants and tiers of the same name, and a match without them takes another
    install's leader (two clusters may reuse an address) or its tier's target. `on ()` alone
    is a match on nothing, against a constant (`vector(0)`)."""
    for name, rule in rules().items():
        expr = rule["expr"]
        assert not re.search(r"\b(?:sum|max|min|avg|count)\s*\(", expr), f"{name}: no `by`"
        kept = re.findall(r"\b(by|on)\s*\(([^)]*)\)", expr)
        assert kept, name
        for clause, labels in kept:
            listed = {label.strip() for label in labels.split(",") if label.strip()}
            assert listed >= INSTALL or (clause, listed) == ("on", set()), f"{name}: {clause}"


# --- each alert, in Prometheus's unit tests (virtual time: no waiting) ----------------------

LEADER = 'instance="a:9090", job="agentdash"'
FOLLOWER = 'instance="b:9090", job="agentdash"'


def said(alert: str, labels: dict[str, str], value: str = "") -> dict[str, str]:
    """The alert's annotations as an on-call person reads them: its templates filled with
    `labels` and `value` (as humanizeDuration writes it)."""
    filled = {}
    for name, template in rules()[alert]["annotations"].items():
        text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m[1]], template)
        filled[name] = text.replace("{{ $value | humanizeDuration }}", value)
    return filled


def firing(alert: str, value: str = "", **labels: str) -> list[dict[str, Any]]:
    severity = rules()[alert]["labels"]["severity"]
    return [
        {
            "exp_labels": {"severity": severity, **labels},
            "exp_annotations": said(alert, labels, value),
        }
    ]


CASES: dict[str, dict[str, Any]] = {
    "no daemon leads": {
        "input_series": [
            {"series": f"agentdash_leader{{{LEADER}}}", "values": "1 1 0x10"},
            {"series": f"agentdash_leader{{{FOLLOWER}}}", "values": "0x12"},
        ],
        "alert_rule_test": [
            {"eval_time": "2m", "alertname": "AgentdashNoLeader", "exp_alerts": []},  # for 1m
            {"eval_time": "4m", "alertname": "AgentdashNoLeader",
             "exp_alerts": firing("AgentdashNoLeader", job="agentdash")},
        ],
    },
    "two installs, one without a leader": {
        # Two configs, each in its namespace, scraped by one Prometheus: one leads, and its
        # leader does not hide that the other's daemons all follow.
        "input_series": [
            {"series": f'agentdash_leader{{namespace="a", {LEADER}}}', "values": "1x12"},
            {"series": f'agentdash_leader{{namespace="a", {FOLLOWER}}}', "values": "0x12"},
            {"series": 'agentdash_leader{namespace="b", instance="c:9090", job="agentdash"}',
             "values": "1 1 0x10"},
            {"series": 'agentdash_leader{namespace="b", instance="d:9090", job="agentdash"}',
             "values": "0x12"},
        ],
        "alert_rule_test": [
            {"eval_time": "2m", "alertname": "AgentdashNoLeader", "exp_alerts": []},  # for 1m
            {"eval_time": "4m", "alertname": "AgentdashNoLeader",
             "exp_alerts": firing("AgentdashNoLeader", namespace="b", job="agentdash")},
        ],
    },
    "two clusters, one whose daemons stop answering": {
        # Each cluster's daemons in the same namespace, told apart by the `cluster` label a
        # Prometheus over both adds. West's stop answering a scrape: their series go stale,
        # and `up` says why.
        "input_series": [
            {"series": f'agentdash_leader{{cluster="east", namespace="agentdash", {LEADER}}}',
             "values": "1x12"},
            {"series": f'up{{cluster="east", namespace="agentdash", {LEADER}}}',
             "values": "1x12"},
            {"series": f'agentdash_leader{{cluster="west", namespace="agentdash", {LEADER}}}',
             "values": "1 1 stale"},
            {"series": f'agentdash_leader{{cluster="west", namespace="agentdash", {FOLLOWER}}}',
             "values": "0 0 stale"},
            {"series": f'up{{cluster="west", namespace="agentdash", {LEADER}}}',
             "values": "1 1 0x10"},
            {"series": f'up{{cluster="west", namespace="agentdash", {FOLLOWER}}}',
             "values": "1 1 0x10"},
            # another job of west's, never agentdash: not an install
            {"series": 'up{cluster="west", namespace="nats", instance="n:7777", job="nats"}',
             "values": "0x12"},
        ],
        "alert_rule_test": [
            {"eval_time": "2m", "alertname": "AgentdashNoLeader", "exp_alerts": []},
            {"eval_time": "5m", "alertname": "AgentdashNoLeader",
             "exp_alerts": firing("AgentdashNoLeader", cluster="west", namespace="agentdash",
                                  job="agentdash")},
        ],
    },
    "no daemon answers": {
        "input_series": [{"series": 'up{job="other"}', "values": "1x5"}],
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": "AgentdashNoLeader",
             "exp_alerts": firing("AgentdashNoLeader")},
        ],
    },
    "a leader paused by an operator, and left so": {
        "input_series": [
            {"series": f"agentdash_leader{{{LEADER}}}", "values": "1x90"},
            {"series": f"agentdash_controller_paused{{{LEADER}}}", "values": "0 1x89"},
            {"series": f"agentdash_controller_dry_run{{{LEADER}}}", "values": "0x90"},
            # a follower's own --dry-run: the leader acts
            {"series": f"agentdash_leader{{{FOLLOWER}}}", "values": "0x90"},
            {"series": f"agentdash_controller_dry_run{{{FOLLOWER}}}", "values": "1x90"},
        ],
        "alert_rule_test": [
            {"eval_time": "59m", "alertname": "AgentdashNotScaling", "exp_alerts": []},
            {"eval_time": "62m", "alertname": "AgentdashNotScaling",
             "exp_alerts": firing("AgentdashNotScaling", job="agentdash")},
        ],
    },
    "a leader an operator set to dry-run": {
        "input_series": [
            {"series": f"agentdash_leader{{{LEADER}}}", "values": "1x90"},
            {"series": f"agentdash_controller_paused{{{LEADER}}}", "values": "0x90"},
            {"series": f"agentdash_controller_dry_run{{{LEADER}}}", "values": "1x90"},
        ],
        "alert_rule_test": [
            {"eval_time": "62m", "alertname": "AgentdashNotScaling",
             "exp_alerts": firing("AgentdashNotScaling", job="agentdash")},
        ],
    },
    "a pool stale on the leader": {
        "input_series": [
            {"series": f"agentdash_leader{{{LEADER}}}", "values": "1x20"},
            {"series": f"agentdash_leader{{{FOLLOWER}}}", "values": "0x20"},
            {"series": f'agentdash_pool_stale{{pool="research", reason="consumer gone", {LEADER}}}',
             "values": "1x20"},
            # a follower's own view: the leader reads support fine
            {"series": f'agentdash_pool_stale{{pool="support", reason="NATS down", {FOLLOWER}}}',
             "values": "1x20"},
        ],
        "alert_rule_test": [
            {"eval_time": "4m", "alertname": "AgentdashPoolStale", "exp_alerts": []},  # for 5m
            {"eval_time": "6m", "alertname": "AgentdashPoolStale",
             "exp_alerts": firing("AgentdashPoolStale", job="agentdash", pool="research")},
        ],
    },
    "a source failing": {
        "input_series": [
            {"series": f'agentdash_source_up{{source="tokens", {LEADER}}}', "values": "1 0x20"},
            {"series": f'agentdash_source_up{{source="queue", {FOLLOWER}}}',
             "values": "1 0x3 1x16"},  # NATS away for 3 minutes, then back
        ],
        "alert_rule_test": [
            {"eval_time": "4m", "alertname": "AgentdashSourceFailing", "exp_alerts": []},
            {"eval_time": "7m", "alertname": "AgentdashSourceFailing",
             "exp_alerts": firing("AgentdashSourceFailing", job="agentdash", source="tokens",
                                  instance="a:9090")},
        ],
    },
    "a pool held is the pool's alert, not a source failing": {
        # What a daemon serves for a pool whose consumer is gone: the pool stale, and its
        # health as source "pool <pool>" (controller/runtime/health.py), on every daemon
        # that reads it. AgentdashPoolStale says it, from the leader, once.
        "input_series": [
            {"series": f"agentdash_leader{{{LEADER}}}", "values": "1x20"},
            {"series": f"agentdash_leader{{{FOLLOWER}}}", "values": "0x20"},
            {"series": f'agentdash_pool_stale{{pool="research", reason="consumer gone", {LEADER}}}',
             "values": "1x20"},
            {"series": f'agentdash_source_up{{source="pool research", {LEADER}}}',
             "values": "0x20"},
            {"series": f'agentdash_source_up{{source="pool research", {FOLLOWER}}}',
             "values": "0x20"},
        ],
        "alert_rule_test": [
            {"eval_time": "7m", "alertname": "AgentdashSourceFailing", "exp_alerts": []},
            {"eval_time": "7m", "alertname": "AgentdashPoolStale",
             "exp_alerts": firing("AgentdashPoolStale", job="agentdash", pool="research")},
        ],
    },
    "pools held because a whole source fails are that source's alert, not one a pool": {
        # NATS away under a leader on the Kubernetes Lease: it leads on, and holds every pool
        # for the queue's reason. One alert says it, not one for each of 2,000 pools.
        "input_series": [
            {"series": f"agentdash_leader{{{LEADER}}}", "values": "1x20"},
            {"series": f'agentdash_source_up{{source="queue", {LEADER}}}', "values": "0x20"},
            {"series": f'agentdash_pool_stale{{pool="research", reason="NATS disconnected", '
                       f'{LEADER}}}', "values": "1x20"},
            {"series": f'agentdash_pool_stale{{pool="support", reason="NATS disconnected", '
                       f'{LEADER}}}', "values": "1x20"},
        ],
        "alert_rule_test": [
            {"eval_time": "7m", "alertname": "AgentdashPoolStale", "exp_alerts": []},
            {"eval_time": "7m", "alertname": "AgentdashSourceFailing",
             "exp_alerts": firing("AgentdashSourceFailing", job="agentdash", source="queue",
                                  instance="a:9090")},
        ],
    },
    "a pool starved": {
        "input_series": [
            {"series": f"agentdash_leader{{{LEADER}}}", "values": "1x20"},
            {"series": f'agentdash_pool_starved{{pool="coder", tenant="globex", {LEADER}}}',
             "values": "1x20"},
            {"series": f'agentdash_pool_starved{{pool="triage", tenant="globex", {LEADER}}}',
             "values": "1x5 0x15"},  # starved for 5 minutes, then given its room
        ],
        "alert_rule_test": [
            {"eval_time": "9m", "alertname": "AgentdashPoolStarved", "exp_alerts": []},
            {"eval_time": "11m", "alertname": "AgentdashPoolStarved",
             "exp_alerts": firing("AgentdashPoolStarved", job="agentdash", pool="coder",
                                  tenant="globex")},
        ],
    },
    "a pool at its max_replicas": {
        "input_series": [
            {"series": f"agentdash_leader{{{LEADER}}}", "values": "1x30"},
            {"series": f"agentdash_leader{{{FOLLOWER}}}", "values": "0x30"},
            {"series": f'agentdash_pool_capped{{pool="research", tenant="acme", {LEADER}}}',
             "values": "1x30"},
            {"series": f'agentdash_pool_capped{{pool="triage", tenant="acme", {LEADER}}}',
             "values": "1x10 0x20"},  # capped for 10 minutes, then its queue went down
            # a follower's own view: the leader's says the pool is within its max
            {"series": f'agentdash_pool_capped{{pool="coder", tenant="globex", {FOLLOWER}}}',
             "values": "1x30"},
        ],
        "alert_rule_test": [
            {"eval_time": "14m", "alertname": "AgentdashPoolAtMax", "exp_alerts": []},
            {"eval_time": "16m", "alertname": "AgentdashPoolAtMax",
             "exp_alerts": firing("AgentdashPoolAtMax", job="agentdash", pool="research",
                                  tenant="acme")},
        ],
    },
    "a budget that runs out within the hour": {
        "input_series": [
            # 1% of the budget a minute from 50%: 60% more in an hour
            {"series": f'agentdash_tenant_budget_used_ratio{{tenant="acme", {LEADER}}}',
             "values": "0.5+0.01x30"},
            # 0.1% a minute: 6% more in an hour, from 50%: not within the hour
            {"series": f'agentdash_tenant_budget_used_ratio{{tenant="globex", {LEADER}}}',
             "values": "0.5+0.001x30"},
            # all spent, nothing more
            {"series": f'agentdash_tenant_budget_used_ratio{{tenant="initech", {LEADER}}}',
             "values": "1x30"},
        ],
        "alert_rule_test": [
            {"eval_time": "4m", "alertname": "AgentdashBudgetRunsOut", "exp_alerts": []},
            {"eval_time": "10m", "alertname": "AgentdashBudgetRunsOut",
             "exp_alerts": firing("AgentdashBudgetRunsOut", job="agentdash", tenant="acme")
             + firing("AgentdashBudgetRunsOut", job="agentdash", tenant="initech")},
        ],
    },
    "a task waiting past its tier's target": {
        "input_series": [
            {"series": 'agentdash_tier_target_wait_seconds{tier="enterprise", ' + LEADER + "}",
             "values": "120x20"},
            # the same task waits on: past 120 s from the third minute
            {"series": f'agentdash_pool_oldest_task_age_seconds{{pool="research", '
                       f'tier="enterprise", {LEADER}}}', "values": "0+60x20"},
            {"series": f'agentdash_pool_oldest_task_age_seconds{{pool="support", '
                       f'tier="enterprise", {LEADER}}}', "values": "30x20"},  # within it
            {"series": f'agentdash_pool_oldest_task_age_seconds{{pool="batch", '
                       f'tier="starter", {LEADER}}}', "values": "0+60x20"},  # no target
        ],
        "alert_rule_test": [
            {"eval_time": "7m", "alertname": "AgentdashTasksWaitPastTarget", "exp_alerts": []},
            {"eval_time": "10m", "alertname": "AgentdashTasksWaitPastTarget",
             "exp_alerts": firing("AgentdashTasksWaitPastTarget", "10m 0s", job="agentdash",
                                  pool="research", tier="enterprise")},
        ],
    },
    "two installs whose tier of the same name has targets apart": {
        # Enterprise's target is an hour in one install, two minutes in the other: the
        # hour does not hide that the other's tasks wait past its two minutes.
        "input_series": [
            {"series": f'agentdash_tier_target_wait_seconds{{namespace="patient", '
                       f'tier="enterprise", {LEADER}}}', "values": "3600x20"},
            {"series": f'agentdash_pool_oldest_task_age_seconds{{namespace="patient", '
                       f'pool="research", tier="enterprise", {LEADER}}}', "values": "0+60x20"},
            {"series": f'agentdash_tier_target_wait_seconds{{namespace="hurried", '
                       f'tier="enterprise", {LEADER}}}', "values": "120x20"},
            {"series": f'agentdash_pool_oldest_task_age_seconds{{namespace="hurried", '
                       f'pool="research", tier="enterprise", {LEADER}}}', "values": "0+60x20"},
        ],
        "alert_rule_test": [
            {"eval_time": "7m", "alertname": "AgentdashTasksWaitPastTarget", "exp_alerts": []},
            {"eval_time": "10m", "alertname": "AgentdashTasksWaitPastTarget",
             "exp_alerts": firing("AgentdashTasksWaitPastTarget", "10m 0s", namespace="hurried",
                                  job="agentdash", pool="research", tier="enterprise")},
        ],
    },
    "two clusters with a pool of the same name, one at its max": {
        # The same namespace, job and daemon addresses in each cluster (pod addresses are
        # the cluster's own). East's leader has research at its max; in west the daemon at
        # east's leader's address follows, and its own view of research is not west's.
        "input_series": [
            {"series": f'agentdash_leader{{cluster="east", {LEADER}}}', "values": "1x20"},
            {"series": f'agentdash_pool_capped{{cluster="east", pool="research", tenant="acme", '
                       f'{LEADER}}}', "values": "1x20"},
            {"series": f'agentdash_leader{{cluster="west", {LEADER}}}', "values": "0x20"},
            {"series": f'agentdash_pool_capped{{cluster="west", pool="research", tenant="acme", '
                       f'{LEADER}}}', "values": "1x20"},
            {"series": f'agentdash_leader{{cluster="west", {FOLLOWER}}}', "values": "1x20"},
            {"series": f'agentdash_pool_capped{{cluster="west", pool="research", tenant="acme", '
                       f'{FOLLOWER}}}', "values": "0x20"},
        ],
        "alert_rule_test": [
            {"eval_time": "16m", "alertname": "AgentdashPoolAtMax",
             "exp_alerts": firing("AgentdashPoolAtMax", cluster="east", job="agentdash",
                                  pool="research", tenant="acme")},
        ],
    },
    "two installs with a tenant of the same name, one burning its budget": {
        "input_series": [
            {"series": f'agentdash_tenant_budget_used_ratio{{namespace="a", tenant="acme", '
                       f'{LEADER}}}', "values": "0.5+0.01x30"},  # 60% more in an hour
            {"series": f'agentdash_tenant_budget_used_ratio{{namespace="b", tenant="acme", '
                       f'{LEADER}}}', "values": "0.5x30"},  # spends nothing more
        ],
        "alert_rule_test": [
            {"eval_time": "10m", "alertname": "AgentdashBudgetRunsOut",
             "exp_alerts": firing("AgentdashBudgetRunsOut", namespace="a", job="agentdash",
                                  tenant="acme")},
        ],
    },
}  # fmt: skip


@pytest.mark.e2e
@pytest.mark.parametrize("case", list(CASES))
def test_each_alert_fires_once_its_condition_has_held_for_its_for(
    tmp_path: Path, case: str
) -> None:
    test = {"interval": "1m", "name": case, **CASES[case]}
    for check in test["alert_rule_test"]:
        for alert in check["exp_alerts"]:
            alert["exp_labels"] = {"alertname": check["alertname"], **alert["exp_labels"]}
    unit = tmp_path / "test.yaml"
    unit.write_text(
        yaml.safe_dump(
            {"rule_files": [str(RULES)], "evaluation_interval": "15s", "tests": [test]},
            sort_keys=False,
        )
    )
    tested = promtool("test", "rules", str(unit))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_tested() -> None:
    tested = {c["alertname"] for case in CASES.values() for c in case["alert_rule_test"]}
    assert tested == set(ALERTS)


# --- a real Prometheus over agentdash's own metrics ----------------------------------------


def leaders_metrics() -> Metrics:
    """A leading daemon's metrics where every condition but "no leader" holds: paused, a pool
    held as stale, one starved, one at its max_replicas, a tenant burning its budget, a task waiting
    past its tier's target."""
    cfg = config(
        {"research": pool("acme"), "support": pool("acme"), "coder": pool("globex")},
        {"acme": {"tier": "enterprise", "daily_token_budget": 1_000_000},
         "globex": {"tier": "growth"}},
        tiers={"enterprise": {"priority": 1000, "target_wait_seconds": 30},
               "growth": {"priority": 500}},
    )  # fmt: skip
    metrics = Metrics(cfg)
    cut = (
        Reason(rule="demand", template="lag 8"),
        Reason(rule="cluster max_pods", template="no room: 8 -> 2"),
    )
    capped = (
        Reason(rule="demand", template="lag 12"),
        Reason(rule="max_replicas", template="max_replicas 4: 6 -> 4"),
    )
    decided = (
        ScaleDecision(
            pool="coder", tenant="globex", current=2, desired=2, reasons=cut, recommendation=8
        ),
        ScaleDecision(
            pool="support", tenant="acme", current=4, desired=4, reasons=capped, recommendation=6
        ),
    )
    metrics.observe(TickEvent(0.0, decided, 0.001))
    metrics.observe_state({"research": "consumer AGENT_TASKS/research not found"}, True)
    metrics.observe_queues({"support": QueueStats(6, 2, oldest_at=time.time() - 300)})
    metrics.observe_tokens({"acme": 900_000})
    metrics.observe_mode(paused=True, dry_run=False)
    metrics.observe(HealthEvent(ts=0.0, source="tokens", ok=False, detail="Prometheus down"))
    return metrics


def read_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return dict(json.load(response))


@pytest.mark.e2e
async def test_a_real_prometheus_loads_the_rules_and_each_alert_fires_over_agentdashs_metrics(
    tmp_path: Path,
) -> None:
    """The rules as deployed, their `for` set to 0 for the test."""
    instant = instant_rules(RULES, tmp_path)
    metrics = leaders_metrics()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    prometheus = Prometheus(tmp_path, [port], rules=[instant])
    tokens = 900_000

    async def firing() -> set[str]:
        nonlocal tokens
        tokens += 2_000  # the tenant burns on: its budget runs out within the hour
        metrics.observe_tokens({"acme": tokens})
        answer = await asyncio.to_thread(read_json, f"{prometheus.url}/api/v1/alerts")
        return {
            a["labels"]["alertname"] for a in answer["data"]["alerts"] if a["state"] == "firing"
        }

    async def firing_is(wanted: set[str]) -> bool:
        got = await firing()
        return got == wanted

    try:
        loaded = await asyncio.to_thread(read_json, f"{prometheus.url}/api/v1/rules")
        (group,) = loaded["data"]["groups"]
        assert [r["name"] for r in group["rules"]] == ALERTS
        leading = set(ALERTS) - {"AgentdashNoLeader"}
        await eventually(lambda: firing_is(leading), timeout=60, every=0.5)
        # The lease lost, no one else takes it: no leader, and no leader's view of its pools.
        metrics.observe_state({"research": "consumer AGENT_TASKS/research not found"}, False)
        facts = {
            "AgentdashNoLeader",
            "AgentdashBudgetRunsOut",
            "AgentdashTasksWaitPastTarget",
            "AgentdashSourceFailing",
        }
        await eventually(lambda: firing_is(facts), timeout=60, every=0.5)
        health = await asyncio.to_thread(read_json, f"{prometheus.url}/api/v1/rules")
        assert {r["health"] for r in health["data"]["groups"][0]["rules"]} == {"ok"}
    finally:
        prometheus.stop()
        server.shutdown()
        thread.join(timeout=5)
