"""What `agentdash --controller-only` serves on /metrics, as Prometheus and the people who read
it see it: real processes on a real NATS."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest
import yaml
from nats.aio.client import Client
from prometheus_client.parser import text_string_to_metric_families

from agentdash.nats_server import NatsServer
from controller.core.config import load_config
from tests.support import eventually, free_port
from tests.support.daemon import Daemon
from tests.support.prometheus import promtool

pytestmark = pytest.mark.e2e

WAITED = 'agentdash_pool_oldest_task_age_seconds{pool="acme-research",tier="enterprise"} '


async def test_the_oldest_tasks_age_is_not_served_while_the_queues_cannot_be_read(
    fleet_config: Path, nats_server: NatsServer, nc: Client, daemons: list[Daemon]
) -> None:
    """NATS away: how long a task has waited is not known (a worker may have taken it), as
    its pool's lag is not: every pool's series goes, rather than say that none waits, or climb
    on a guess past the tier's target and page for a wait no one measured."""
    daemon = Daemon(fleet_config)
    daemons.append(daemon)
    await daemon.wait_health(lambda h: h["status"] == 200)
    config = load_config(fleet_config)
    await nc.jetstream().publish(config.subject("acme-research"), json.dumps({}).encode())

    async def served() -> bool:
        return WAITED in await daemon.metrics()

    await eventually(served, timeout=15)
    nats_server.stop()
    await daemon.wait_health(lambda h: "queue" in h["problems"])

    async def gone() -> bool:
        page = await daemon.metrics()
        return "agentdash_pool_oldest_task_age_seconds{" not in page and (
            "agentdash_pool_lag_tasks{" not in page
        )

    await eventually(gone, timeout=10)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "operating.md"


def documented() -> dict[str, tuple[str, set[str]]]:
    """docs/operating.md's metric table: each metric's type and labels."""
    section = DOCS.read_text().split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| `")]
    return {row[0].strip("| `"): (row[1], set(re.findall(r"`(\w+)`", row[2]))) for row in rows}


def exposed(page: str) -> dict[str, tuple[str, set[str]]]:
    """A /metrics page's families, named as queried (`_total` on a counter), with their type
    and the labels their samples carry (a histogram's `le` is its buckets', not a label)."""
    found = {}
    for family in text_string_to_metric_families(page):
        name = family.name + "_total" if family.type == "counter" else family.name
        labels = set().union(*(sample.labels for sample in family.samples)) - {"le"}
        found[name] = (family.type, labels)
    return found


def with_a_target(config: Path, path: Path) -> Path:
    """`config` with a target_wait_seconds on its enterprise tier, written to `path`."""
    fleet = yaml.safe_load(config.read_text())
    fleet["tiers"]["enterprise"]["target_wait_seconds"] = 60
    path.write_text(yaml.safe_dump(fleet))
    return path


async def test_metrics_pass_promtool_and_are_the_ones_the_operating_guide_lists(
    fleet_config: Path, nc: Client, daemons: list[Daemon], tmp_path: Path
) -> None:
    """Every family a daemon serves, held to what docs/operating.md says of it (name, type,
    labels), both ways, and every source of bad messages it counts named there, over a fleet
    where each has a series: a tier with a target, a pool held (its consumer deleted), tasks
    queued for another (it scales)."""
    path = with_a_target(fleet_config, tmp_path / "targets.yaml")
    config = load_config(path)
    js = nc.jetstream()
    held = config.pools["globex-coder"].queue
    await js.delete_consumer(held.stream, held.consumer)
    await js.publish(config.subject("acme-research"), json.dumps({}).encode())
    daemon = Daemon(path)
    daemons.append(daemon)
    await daemon.wait_health(lambda h: h["role"] == "leader")
    page = ""

    async def every_family_has_a_series() -> bool:
        nonlocal page
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{daemon.port}/metrics") as response,
        ):
            assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            page = await response.text()
        families = list(text_string_to_metric_families(page))
        return all(family.samples for family in families)

    await eventually(every_family_has_a_series, timeout=30, every=0.5)
    checked = promtool("check", "metrics", stdin=page)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
    served, listed = exposed(page), documented()
    assert served.keys() - listed.keys() == set(), "served, not in docs/operating.md"
    assert listed.keys() - served.keys() == set(), "in docs/operating.md, not served"
    assert {name: served[name] for name in listed} == listed
    row = DOCS.read_text().split("\n| `agentdash_bad_messages_total` |", 1)[1].split("\n", 1)[0]
    named = set(re.findall(r"`(\w+)`", row))
    counted = {
        sample.labels["source"]
        for family in text_string_to_metric_families(page)
        if family.name == "agentdash_bad_messages"
        for sample in family.samples
    }
    assert counted - named == set(), "sources of bad messages served, not in the table's row"


async def test_a_controller_an_operator_paused_or_set_to_dry_run_says_so(
    fleet_config: Path, nc: Client, daemons: list[Daemon]
) -> None:
    """Paused, the leader leads on and scales nothing: /metrics said nothing of it (its
    decisions, counted only when made again, were the one trace), so a pause forgotten after
    a maintenance went unseen by every graph and alert."""
    daemon = Daemon(fleet_config)
    daemons.append(daemon)
    await daemon.wait_health(lambda h: h["role"] == "leader")
    assert "agentdash_controller_paused 0.0" in await daemon.metrics()
    overrides = await nc.jetstream().key_value("agentdash_overrides")
    for paused, dry_run in ((True, False), (False, True), (False, False)):
        said = {"paused": paused, "dry_run": dry_run}
        await overrides.put("overrides", json.dumps(said).encode())
        shown = (
            f"agentdash_controller_paused {float(paused)}\n",
            f"agentdash_controller_dry_run {float(dry_run)}\n",
        )

        async def shows(shown: tuple[str, ...] = shown) -> bool:
            page = await daemon.metrics()
            return all(line in page for line in shown)

        await eventually(shows, timeout=10, every=0.2)


def counted_by_a_prometheus_that_never_answers(config: Path, path: Path) -> Path:
    """`config` with its tokens counted by a Prometheus on a port where nothing listens."""
    fleet = yaml.safe_load(config.read_text())
    fleet["prometheus"] = {"url": f"http://127.0.0.1:{free_port()}", "interval_seconds": 1}
    path.write_text(yaml.safe_dump(fleet))
    return path


async def test_tokens_not_known_are_not_served_as_none_spent(
    fleet_config: Path, daemons: list[Daemon], tmp_path: Path
) -> None:
    """Started while Prometheus fails, a daemon does not know any tenant's tokens today (the
    hard caps hold growth for it): /metrics said 0 tokens and 0 of each budget used, a graph
    of a fresh day and an alert on the budget that could never fire."""
    path = counted_by_a_prometheus_that_never_answers(fleet_config, tmp_path / "prom.yaml")
    daemon = Daemon(path)
    daemons.append(daemon)
    await daemon.wait_health(lambda h: "tokens" in h["problems"] and h["ticks"] > 2)
    page = await daemon.metrics()
    assert 'agentdash_source_up{source="tokens"} 0.0' in page
    assert "agentdash_tenant_tokens_today{" not in page
    assert "agentdash_tenant_budget_used_ratio{" not in page
