"""The Grafana dashboard in deploy/grafana: it imports cleanly; its queries read what an
operator asks about, each of the installs picked (All of them at first), and only metrics and
labels agentdash serves; and over a real Prometheus scraping two running installs, every panel
shows each one's data alone when it is picked, and both at All."""

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
"""What each series the dashboard reads is matched to: the installs picked, by the labels the
alert rules group by (the scrape's; a label a Prometheus does not add is empty, and "All",
`.*`, matches a series without it as with it)."""
PICKERS = list(INSTALL)
"""The install's pickers, each offering what the ones before it leave."""
ALL = "$__all"
"""What Grafana keeps for a picker at All; it sends the picker's allValue."""
Picked = dict[str, str | list[str]]
"""Each picker's value: one, several, or ALL (a picker left out is at ALL)."""


def test_every_panel_and_the_pool_picker_read_the_installs_picked() -> None:
    """One Prometheus may scrape several installs (two clusters, two namespaces): a panel
    that read a series without the install's matchers would show them all whatever is picked.
    Each picker offers All, the default, and several values at once: each matcher is a regex
    (`=~`), which Grafana fills with `.*` for All and `(a|b)` for two."""
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    read = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    read.append(variables["pool"]["query"]["query"])
    for expr in read:
        for name, matchers in selectors(expr):
            assert INSTALL.items() <= matchers.items(), f"{expr}: {name} not of the install"
        exact = re.findall(r'\b(?:cluster|namespace|job)\s*(?:=|!=|!~)\s*"', expr)
        assert not exact, f"{expr}: {exact} is no regex: All and two installs would match none"
        assert all(f'{p}=~"{v}"' in expr for p, v in INSTALL.items()), expr
    for before, picker in enumerate(PICKERS):
        query = variables[picker]["query"]["query"]
        assert query.endswith(f", {picker})"), query
        ((_, matchers),) = selectors(query)
        assert matchers == {p: INSTALL[p] for p in PICKERS[:before]}, query
        offers = {k: variables[picker].get(k) for k in ("multi", "includeAll", "allValue")}
        assert offers == {"multi": True, "includeAll": True, "allValue": ".*"}, picker
        assert variables[picker]["current"]["value"] == ALL, picker  # every install at first


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
    offer both, each panel shows the install picked alone, and at All both, apart where a
    panel shows pools or tenants (the same names in each) and summed where it counts."""
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
        panels = Panels(prometheus)
        await panels_show_each_install_alone(panels)
        await panels_show_every_install_at_all(panels)
    finally:
        if prometheus is not None:
            prometheus.stop()
        for daemon in daemons:
            daemon.stop()
        other_server.close()


def as_grafana_sends(query: str, picked: Picked) -> str:
    """`query` with the dashboard's variables filled as Grafana fills them for a picker that
    offers several values (each regex-escaped, `(a|b)` for two; at All its allValue, as it
    is); Grafana answers label_values(series, label) itself, from the series given."""
    all_values = {v["name"]: v.get("allValue") for v in dashboard_variables()}

    def sent(name: str) -> str:
        value = picked.get(name, ALL)
        if value == ALL:
            return str(all_values[name])
        escaped = [
            re.sub(r"[$^*{}\[\]'+?.()|]", r"\\\\\g<0>", v.replace("\\", "\\\\\\\\"))
            for v in ([value] if isinstance(value, str) else value)
        ]
        return escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"

    filled = re.sub(
        r"\$__rate_interval|\$(\w+)", lambda m: "1m" if m[1] is None else sent(m[1]), query
    )
    return re.sub(r"label_values\((.+),\s*(\w+)\)", r"count by (\2) (\1)", filled)


def as_grafana_names(legend: str, labels: dict[str, str]) -> str:
    """A series' name in its panel: the target's legendFormat with each {{label}} filled
    (empty where the series has none); with no legendFormat, every label."""
    if not legend:
        return json.dumps(labels, sort_keys=True)
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m[1], ""), legend)


def dashboard_variables() -> list[dict[str, Any]]:
    return [v for v in json.loads(DASHBOARD.read_text())["templating"]["list"]
            if v["type"] == "query"]  # fmt: skip


class Panels:
    """The dashboard's queries, asked of a real Prometheus as Grafana asks them."""

    def __init__(self, prometheus: Prometheus) -> None:
        self.prometheus = prometheus
        self.variables = {v["name"]: v["query"]["query"] for v in dashboard_variables()}
        self.targets = [
            (t["expr"], panel["title"], t.get("legendFormat", ""))
            for panel in json.loads(DASHBOARD.read_text())["panels"]
            for t in panel["targets"]
        ]
        self.reads = [*(expr for expr, _, _ in self.targets), self.variables["pool"]]
        """What shows the installs picked: the panels and the Pool picker (the install's
        pickers offer what the ones before them leave, beyond what is picked)."""
        self.unanswered: dict[str, str] = {}

    def query(self, title: str) -> str:
        (expr,) = [expr for expr, shown_in, _ in self.targets if shown_in == title]
        return expr

    async def answer(self, query: str) -> list[dict[str, Any]] | None:
        try:
            return await asyncio.to_thread(self.prometheus.query, query)
        except urllib.error.HTTPError as error:  # a bad query: 400 with the reason
            self.unanswered[query] = error.read().decode()
            return None

    async def shown(self, query: str, picked: Picked) -> list[dict[str, Any]]:
        return await self.answered(as_grafana_sends(query, picked))

    async def answered(self, sent: str) -> list[dict[str, Any]]:
        shown = await self.answer(sent)
        assert shown is not None, self.unanswered
        return shown

    async def offered(self, picker: str, picked: Picked) -> set[str]:
        found = await self.shown(self.variables[picker], picked)
        return {series["metric"].get(picker, "") for series in found}

    async def all_answered(self, picked: Picked) -> bool:
        self.unanswered.clear()
        for query in self.reads:
            sent = as_grafana_sends(query, picked)
            if await self.answer(sent) == []:
                self.unanswered[sent] = "no series"
        return not self.unanswered

    async def namespaces_read(self, picked: Picked) -> set[str]:
        """The namespaces of every series that what shows them reads, as sent for `picked`."""
        read: set[str] = set()
        for query in self.reads:
            sent = as_grafana_sends(query, picked)
            for selector in re.findall(r"\b\w+\{[^}]*\}", sent):
                read |= {s["metric"]["namespace"] for s in await self.answered(selector)}
        return read


async def panels_show_each_install_alone(panels: Panels) -> None:
    both = partial(panels_offer, panels, "namespace", {"first", "second"})
    await eventually(both, timeout=30, every=0.5)
    # Neither install has a cluster label: the picker finds none, and All (`.*`) reads the
    # series without one.
    assert await panels.offered("cluster", {}) == {""}
    for namespace in ("first", "second"):
        picked: Picked = {"namespace": namespace}
        (picked["job"],) = await panels.offered("job", picked)
        try:
            # rate() needs two scrapes, a second apart.
            await eventually(partial(panels.all_answered, dict(picked)), timeout=40, every=0.5)
        except AssertionError:
            pytest.fail(f"panels without data for {namespace}: {panels.unanswered}")
        assert await panels.namespaces_read(picked) == {namespace}
        # Each install has its leader: the panel counts one, not both.
        leaders = await panels.shown(panels.query("Leaders"), picked)
        assert [s["value"][1] for s in leaders] == ["1"]
    # An install not scraped here: every panel is empty, or says 0.
    for query, title, _ in panels.targets:
        shown = await panels.shown(query, {"namespace": "elsewhere"})
        assert {s["value"][1] for s in shown} <= {"0"}, (title, shown)


async def panels_offer(panels: Panels, picker: str, values: set[str]) -> bool:
    return await panels.offered(picker, {}) == values


async def panels_show_every_install_at_all(panels: Panels) -> None:
    """Every picker at All (the default), or both installs picked: each panel answers; one
    that shows pools or tenants shows each install's apart (a legend each), and one that
    counts counts over both."""
    both: Picked = {"namespace": ["first", "second"]}
    for picked in ({}, both):
        try:
            await eventually(partial(panels.all_answered, picked), timeout=40, every=0.5)
        except AssertionError:
            pytest.fail(f"panels without data for {picked or 'All'}: {panels.unanswered}")
        assert await panels.namespaces_read(picked) == {"first", "second"}
    alone = [{"namespace": "first"}, {"namespace": "second"}]
    for query, title, legend in panels.targets:
        shown = await panels.shown(query, {})
        each = [await panels.shown(query, p) for p in alone]
        legends = [as_grafana_names(legend, s["metric"]) for s in shown]
        assert len(set(legends)) == len(legends), (title, legends)
        if re.search(r"\{\{(pool|tenant)\}\}", legend) or title == "Stale pools and why":
            assert len(shown) == sum(map(len, each)), (title, shown, each)
    leaders = await panels.shown(panels.query("Leaders"), {})
    assert [s["value"][1] for s in leaders] == ["1", "1"]  # each install's leader
    stale = [await panels.shown(panels.query("Stale pools"), p) for p in [{}, *alone]]
    (at_all,), (first,), (second,) = ([s["value"][1] for s in shown] for shown in stale)
    assert int(at_all) == int(first) + int(second) > 0  # the held pool of each, not once


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
        leader = 'agentdash_leader{cluster=~"$cluster", namespace=~"$namespace", job=~"$job"}'
        join = f"and on (cluster, namespace, job, instance) ({leader} == 1)"
        assert join in target["expr"], title
