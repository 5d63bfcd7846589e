"""The alert rules of deploy/ over real processes: nats-server, `agentdash --controller-only`
on a simulated cluster and the Debian package's Prometheus, loading the rules with their `for`
at 0. Each situation an alert names is made, and each alert read from Prometheus's ALERTS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
import yaml
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.core.config import load_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually
from tests.support.daemon import Daemon
from tests.support.prometheus import Prometheus, instant_rules

pytestmark = pytest.mark.e2e

RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "agentdash-rules.yaml"


def alerts() -> set[str]:
    (group,) = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"] for rule in group["rules"]}


FLEET = {
    "cluster": {"max_pods": 3},
    "tiers": {"enterprise": {"priority": 1000, "target_wait_seconds": 5},
              "growth": {"priority": 500}},
    "tenants": {"acme": {"tier": "enterprise", "daily_token_budget": 10_000},
                "globex": {"tier": "growth"}},
    "controller": {"interval_seconds": 1},
    "pools": {
        # tasks no worker takes: they wait past the tier's 5 s
        "research": {"tenant": "acme", "max_replicas": 2,
                     "deployment": {"namespace": "agents", "name": "research"},
                     "queue": {"stream": "TASKS", "consumer": "research"}},
        # ten tasks, one a replica: the cluster's 3 pods starve it
        "coder": {"tenant": "globex", "max_replicas": 5, "target_lag_per_replica": 1,
                  "deployment": {"namespace": "agents", "name": "coder"},
                  "queue": {"stream": "TASKS", "consumer": "coder"}},
        # ten tasks, one a replica, one replica at most: at its max
        "capped": {"tenant": "globex", "max_replicas": 1, "target_lag_per_replica": 1,
                   "deployment": {"namespace": "agents", "name": "capped"},
                   "queue": {"stream": "TASKS", "consumer": "capped"}},
        # its consumer deleted: held
        "gone": {"tenant": "globex", "max_replicas": 2,
                 "deployment": {"namespace": "agents", "name": "gone"},
                 "queue": {"stream": "TASKS", "consumer": "gone"}},
    },
}  # fmt: skip


OTHER_FLEET = {
    "tiers": {"enterprise": {"priority": 1000, "target_wait_seconds": 3600}},
    "tenants": {"acme": {"tier": "enterprise"}},
    "controller": {"interval_seconds": 1},
    "pools": {"research": {"tenant": "acme", "max_replicas": 2,
                           "deployment": {"namespace": "agents", "name": "research"},
                           "queue": {"stream": "TASKS", "consumer": "research"}}},
}  # fmt: skip
"""Another install, on its own NATS, with a tier, a tenant and a pool named as the first's:
it leads all along and nothing in it alerts, and its tier's hour does not hide that the
first's tasks wait past their 5 s."""


def fleet_file(tmp_path: Path, url: str, fleet: dict[str, object] = FLEET) -> Path:
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump({**fleet, "nats": {"url": url}}))
    return path


@pytest.fixture
async def other_install(tmp_path: Path) -> AsyncIterator[Daemon]:
    """A daemon of another install, leading on its own NATS."""
    server = NatsServer(tmp_path / "other" / "nats").start()
    path = fleet_file(tmp_path / "other", server.url, OTHER_FLEET)
    try:
        async with await nats.connect(server.url) as nc:
            await ensure_queues(nc, load_config(path))
        daemon = Daemon(path)
        try:
            await daemon.wait_health(lambda h: h["role"] == "leader")
            yield daemon
        finally:
            daemon.stop()
    finally:
        server.close()


async def test_each_alert_fires_over_a_running_daemon_and_says_what_is_true_when_nats_goes(
    tmp_path: Path, nats_server: NatsServer, nc: Client, other_install: Daemon
) -> None:
    """Each situation made with real processes, each alert read from Prometheus's ALERTS.
    Then NATS stops: no daemon leads and it cannot read the queues, which fire; the leader's
    view of its pools goes, and with it how long a task has waited (not known: an alert on
    the last reading aging on paged for a wait no one measured); the budget, a fact, stays.
    The same Prometheus scrapes another install, in another namespace, whose daemon leads
    all along: each alert names the first (its namespace label), and the first's want of a
    leader is said for the first alone."""
    path = fleet_file(tmp_path, nats_server.url)
    cfg = load_config(path)
    await ensure_queues(nc, cfg)
    js = nc.jetstream()
    await js.delete_consumer("TASKS", "gone")
    for i in range(10):
        await js.publish(cfg.subject("research"), json.dumps({"id": i}).encode())
        await js.publish(cfg.subject("coder"), json.dumps({"id": i}).encode())
        await js.publish(cfg.subject("capped"), json.dumps({"id": i}).encode())
    daemon = Daemon(path)
    prometheus = Prometheus(
        tmp_path, [daemon.port, other_install.port], rules=[instant_rules(RULES, tmp_path)],
        labels={daemon.port: {"namespace": "first"}, other_install.port: {"namespace": "other"}},
    )  # fmt: skip
    firing: set[str] = set()
    installs: set[str | None] = set()

    async def firing_is(wanted: set[str]) -> bool:
        nonlocal firing, installs
        answer = await asyncio.to_thread(prometheus.query, 'ALERTS{alertstate="firing"}')
        firing = {a["metric"]["alertname"] for a in answer}
        installs = {a["metric"].get("namespace") for a in answer}
        return firing == wanted

    async def spend() -> bool:  # 400 tokens a task done, until the budget is all spent
        report = {"tenant": "acme", "pool": "research", "tokens": 400, "work_s": 1}
        await nc.publish("agentdash.usage.acme", json.dumps(report).encode())
        return await firing_is(alerts() - {"AgentdashNoLeader", "AgentdashNotScaling",
                                           "AgentdashSourceFailing"})  # fmt: skip

    try:
        await daemon.wait_health(lambda h: h["role"] == "leader")
        try:
            await eventually(spend, timeout=60, every=0.5)
        except AssertionError:
            pytest.fail(f"firing {sorted(firing)}")
        assert installs == {"first"}
        nats_server.stop()
        gone = {"AgentdashNoLeader", "AgentdashSourceFailing", "AgentdashBudgetRunsOut"}
        try:
            await eventually(lambda: firing_is(gone), timeout=30, every=0.5)
        except AssertionError:
            pytest.fail(f"firing {sorted(firing)}")
        leaderless = await asyncio.to_thread(
            prometheus.query, 'ALERTS{alertname="AgentdashNoLeader", alertstate="firing"}'
        )
        assert [a["metric"].get("namespace") for a in leaderless] == ["first"]
        assert (await other_install.health() or {}).get("role") == "leader"
    finally:
        daemon.stop()
        prometheus.stop()
