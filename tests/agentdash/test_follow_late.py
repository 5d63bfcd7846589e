"""A dashboard that attaches after the leader sent its whole view (it now sends only what
changed, and the whole view every 30 s) asks for it, and shows the leader's decisions at
the leader's next tick, not half a minute later. Real runtimes on a real nats-server."""

from __future__ import annotations

import json

import yaml
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from agentdash.opening import RuntimeOptions
from agentdash.runtime import Runtime, start
from controller.core.config import Config, parse_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually
from tests.support.cli import EXAMPLE


def example() -> Config:
    return parse_config(yaml.safe_load(EXAMPLE.read_text()))


def desired(runtime: Runtime) -> dict[str, int]:
    return {d.pool: d.desired for d in runtime.loop.decisions.values()}


async def test_a_follower_that_starts_late_asks_and_gets_the_whole_view(
    nats_server: NatsServer, nc: Client
) -> None:
    config = example()
    await ensure_queues(nc, config)
    leader = await start(config, RuntimeOptions(nats_server.url, cluster="simulated"))
    follower: Runtime | None = None
    try:
        for i in range(12):
            await nc.jetstream().publish(config.subject("acme-research"),
                                         json.dumps({"i": i}).encode())  # fmt: skip
        for _ in range(3):  # the whole view went out with the first tick, deltas since
            await leader.loop.tick()
        assert leader.loop.leading
        await eventually(lambda: leader.ticks == 3)
        assert desired(leader)["acme-research"] > 0

        follower = await start(config, RuntimeOptions(nats_server.url, cluster="simulated",
                                                      lead=False))  # fmt: skip
        await follower.loop.tick()  # it learns who leads
        assert not follower.loop.leading
        assert follower.loop.leader_view.decisions == {}

        async def shown() -> bool:
            await leader.loop.tick()  # a tick with nothing new: only what was asked for
            assert follower is not None
            await follower.loop.tick()
            told = {pool: d.desired for pool, d in follower.loop.leader_view.decisions.items()}
            return told == desired(leader)  # the leader's, not its own like decisions

        await eventually(shown, timeout=10, every=0.05)
        assert follower.loop.leader_view.decisions["acme-research"].desired > 0
        assert follower.metrics.bad.counts["decisions"] == 0
    finally:
        if follower is not None:
            await follower.stop()
        await leader.stop()
