"""The Grafana dashboard in deploy/grafana: it imports cleanly; its queries read what an
operator asks about, each of the install picked, and only metrics and labels agentdash serves;
and over a real Prometheus scraping two running installs, every panel shows each one's data."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
from functools import partial
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.actuators.simcluster import SimulatedCluster
from controller.core.events import TickEvent
from controller.runtime.loop import Reconciler
from controller.runtime.metrics import Metrics
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import TokenLedger
from tests.support import FakeClock, eventually
from tests.support.daemon import Daemon
from tests.support.deploy import DASHBOARD, example_config, held_fleet, queries
from tests.support.prometheus import (
    SCRAPE_LABELS,
    Prometheus,
    label_names,
    metric_names,
    selectors,
    served_text,
)


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


def test_the_stale_panels_show_the_leaders_view_as_the_alert_does() -> None:
    """A follower that cannot read a pool (its own NATS connection) holds nothing: the panels
    counted its view too, and showed a pool held that the leader scaled, beside an
    AgentdashPoolStale that stayed quiet."""
    panels = {p["title"]: p for p in json.loads(DASHBOARD.read_text())["panels"]}
    for title in ("Stale pools", "Stale pools and why"):
        (target,) = panels[title]["targets"]
        leader = 'agentdash_leader{cluster="$cluster", namespace="$namespace", job="$job"}'
        assert f"and on (instance) ({leader} == 1)" in target["expr"], title
