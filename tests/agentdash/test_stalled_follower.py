"""A dashboard that follows a daemon on `--cluster simulated`, while their NATS is stalled
(SIGSTOP: its connections open, nothing answered). Real runtimes on a real nats-server."""

from __future__ import annotations

import asyncio
import json
import re

import yaml
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from agentdash.opening import RuntimeOptions
from agentdash.runtime import Runtime, start
from agentdash.tui.live import header_text
from controller.core.config import parse_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually
from tests.support.cli import EXAMPLE
from tests.support.processes import stalled


def pods_said(runtime: Runtime) -> str:
    """`pods N/CAP`, as the dashboard's header says it now."""
    header = header_text(runtime.loop.snapshot(), read_only=True).plain
    found = re.search(r"pods \d+/\d+", header)
    assert found is not None, header
    return found.group()


async def test_a_follower_shows_the_leaders_pods_while_nats_is_stalled(
    nats_server: NatsServer, nc: Client
) -> None:
    """A follower's own simulated cluster has no pods: it shows the leader's. With NATS
    stalled, its tick showed its own while the queues' read waited out its deadline: the
    header said `pods 0/24` for 2 s of every tick, `pods 5/24` in between."""
    config = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, config)
    for pool in config.pools:
        for i in range(6):
            await nc.jetstream().publish(config.subject(pool), json.dumps({"i": i}).encode())
    leader = await start(config, RuntimeOptions(nats_server.url, cluster="simulated"))
    follower: Runtime | None = None
    try:
        follower = await start(
            config, RuntimeOptions(nats_server.url, cluster="simulated", read_only=True)
        )
        watching = follower

        async def shown() -> bool:
            await leader.loop.tick()
            await watching.loop.tick()
            leading = leader.loop.snapshot().pods_used
            return leading > 0 and pods_said(watching) == f"pods {leading}/24"

        await eventually(shown, timeout=15, every=0.05)
        assert not follower.loop.leading
        before = pods_said(follower)

        said = set()
        with stalled(nats_server):
            ticking = asyncio.create_task(follower.loop.tick())
            while not ticking.done():  # the header at each of the dashboard's refreshes
                said.add(pods_said(follower))
                await asyncio.wait({ticking}, timeout=0.01)
            await ticking
            header = header_text(follower.loop.snapshot(), read_only=True).plain
        assert said == {before}  # the last known, never the follower's own empty cluster
        assert "queue STALE" in header  # and the header says what is not current
    finally:
        if follower is not None:
            await follower.stop()
        await leader.stop()
