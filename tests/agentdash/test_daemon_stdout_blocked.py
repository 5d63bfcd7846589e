"""The daemon's standard output read by nobody for a while (a log shipper stalled, `agentdash
--controller-only | less` paused): the daemon leads, scales and answers on as before, and says
how many lines it dropped once its reader reads again. Real processes, a real pipe."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.coordination.overrides_bucket import BUCKET, KEY
from controller.core.config import load_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually
from tests.support.daemon import Daemon, UnreadDaemon

pytestmark = pytest.mark.e2e

POOLS = 50
"""Each write of the overrides pins them all, and the leader logs it: 1 KB of lines a write."""
ANSWER_S = 5.0
"""Far longer than a daemon takes to answer a request: one that takes longer is not ticking."""
FLOOD_S = 90.0
DROPPED = re.compile(r"^agentdash_log_lines_dropped_total (\d+)", re.MULTILINE)


def wide_fleet(tmp_path: Path, url: str) -> Path:
    """POOLS pools of one tenant on one stream, none running until pinned."""
    pools = {
        f"pool-{i}": {
            "tenant": "acme",
            "deployment": {"namespace": "agents", "name": f"pool-{i}"},
            "queue": {"stream": "AGENT_TASKS", "consumer": f"pool-{i}"},
            "min_replicas": 0,
            "max_replicas": 200,
        }
        for i in range(POOLS)
    }
    data = {
        "nats": {"url": url},
        "cluster": {"max_pods": 100_000},
        "tiers": {"enterprise": {"priority": 1000}},
        "tenants": {"acme": {"tier": "enterprise"}},
        "controller": {"interval_seconds": 0.5},
        "pools": pools,
    }
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def answer(daemon: Daemon, page: str) -> str:
    """`page` as the daemon serves it; a daemon that does not answer within ANSWER_S fails
    the test (its loop is stuck)."""
    timeout = aiohttp.ClientTimeout(total=ANSWER_S)
    url = f"http://127.0.0.1:{daemon.port}/{page}"
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as response:
            return await response.text()
    except TimeoutError:
        raise AssertionError(f"/{page} unanswered for {ANSWER_S:g} s") from None


def dropped(metrics: str) -> int:
    found = DROPPED.search(metrics)
    return int(found.group(1)) if found else 0


async def test_a_leader_whose_stdout_is_not_read_leads_on_and_says_what_it_dropped(
    tmp_path: Path, nats_server: NatsServer, nc: Client, daemons: list[Daemon]
) -> None:
    """Its JSON lines were written from its loop: once the pipe held 64 KiB, the next line
    waited for the reader, and so did the loop: no tick, no lease renewed (a standby took
    over after the TTL), /healthz unanswered, for as long as nobody read."""
    path = wide_fleet(tmp_path, nats_server.url)
    await ensure_queues(nc, load_config(path))
    leader = UnreadDaemon(path)  # its stdout: a pipe nobody reads for now
    daemons.append(leader)
    await leader.wait_health(lambda h: h["role"] == "leader", timeout=60)
    standby = Daemon(path)
    daemons.append(standby)
    await standby.wait_health(lambda h: h["role"] == "follower", timeout=60)
    kv = await nc.jetstream().key_value(BUCKET)

    # An operator's script writes the overrides again and again (`nats kv put`): the leader
    # logs each write, an action and a log line, into a pipe that fills and stays full.
    deadline = time.monotonic() + FLOOD_S
    replicas = 0
    while not dropped(await answer(leader, "metrics")):
        assert time.monotonic() < deadline, "no line dropped, however many were written"
        replicas = replicas % 100 + 1
        pins = {f"pool-{i}": {"replicas": replicas} for i in range(POOLS)}
        await kv.put(KEY, json.dumps({"pins": pins}).encode())
    # Its loop runs on, for longer than the lease's TTL (2 s): it ticks, renews the lease
    # (the standby follows it) and is ready.
    health: dict[str, Any] = json.loads(await answer(leader, "healthz"))
    ticked = health["ticks"]

    async def ticking_on() -> bool:
        health.update(json.loads(await answer(leader, "healthz")))
        ticks = health["ticks"] >= ticked + 6  # 3 s at 2 ticks a second
        return bool(ticks and (health["role"], health["ready"]) == ("leader", True))

    await eventually(ticking_on, timeout=30)
    assert json.loads(await answer(standby, "healthz"))["role"] == "follower"

    leader.start_reading()  # the shipper reads again: it is told what it missed
    notice = re.compile(r"^stdout blocked: [\d,]+ log lines? dropped$")

    def told() -> list[dict[str, Any]]:
        return [e for e in leader.read() if notice.match(str(e.get("message")))]

    async def all_told() -> bool:  # every line dropped, told once, in a warning
        said = sum(int(str(e["message"]).split()[2].replace(",", "")) for e in told())
        return said == dropped(await answer(leader, "metrics")) > 0

    await eventually(all_told, timeout=30)
    assert {(e["type"], e["level"]) for e in told()} == {("log", "warning")}
    assert leader.stop() == 0
    lines = leader.read()
    assert (lines[0]["type"], lines[-1]["type"]) == ("start", "stop")
