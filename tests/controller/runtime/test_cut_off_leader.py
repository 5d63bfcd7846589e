"""A leader cut off from the Kubernetes API gives the NATS lease up, so that a controller that
reaches the API server scales (controller.runtime.leadership.Bench): two loops on a real
nats-server, the leader's every scale call met by no answer (or a 401), the follower's by a
cluster that works."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import nats
import pytest
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.actuators.simcluster import SimulatedCluster
from controller.coordination.lease import NatsLease
from controller.core.config import Config
from controller.core.model import PoolState, PoolUnavailable
from controller.runtime.leadership import STEP_DOWN_TTLS
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.usage import TokenLedger
from tests.support import FakeClock, eventually
from tests.support.factories import config, pool

pytestmark = pytest.mark.e2e

TTL = 1.0
AT_ONCE = {
    "scale_up": {"stabilization_seconds": 0, "max_pods": 100, "period_seconds": 1},
    "scale_down": {"stabilization_seconds": 0, "max_pods": 100, "period_seconds": 1},
}


class Unreachable:
    """A cluster read as it was last seen, whose scale calls reach no API server that answers
    this process: what a leader behind a stalled network, or with a token the API server no
    longer knows, meets."""

    def __init__(self, fleet: Config, answered: bool) -> None:
        self._cluster = SimulatedCluster(fleet)
        self._answered = answered
        self.calls = 0

    async def observe(self) -> Mapping[str, PoolState]:
        return await self._cluster.observe()

    async def scale(self, pool: str, replicas: int) -> None:
        self.calls += 1
        if self._answered:  # the API server answered: the fault is everyone's (RBAC, say)
            raise PoolUnavailable(pool, "cannot scale: 403 Forbidden")
        raise PoolUnavailable(pool, "cannot scale: 401 Unauthorized", unanswered=True)

    async def close(self) -> None:
        await self._cluster.close()


@pytest.fixture
def fleet() -> Config:
    return config({"web": pool("acme", behavior=AT_ONCE)})


async def loops(
    nats_server: NatsServer, fleet: Config, lag: JetStreamLagSource, clock: FakeClock,
    cut_off: Unreachable,
) -> tuple[Reconciler, Reconciler, SimulatedCluster]:  # fmt: skip
    """The leader (its calls cut off) and a follower whose cluster works."""
    made = []
    working = SimulatedCluster(fleet, clock=clock)
    for name, actuator in (("cut-off", cut_off), ("reaching", working)):
        lease = NatsLease(await nats.connect(nats_server.url), name, ttl=TTL)
        await lease.start()
        made.append(Reconciler(fleet, lag, TokenLedger(fleet), actuator, clock=clock, lease=lease))
    return made[0], made[1], working


async def test_a_leader_whose_calls_reach_no_api_server_hands_the_lease_to_one_that_scales(
    nats_server: NatsServer, nc: Client, fleet: Config, lag: JetStreamLagSource,
    clock: FakeClock, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING, "agentdash.loop")
    cut_off = Unreachable(fleet, answered=False)
    old, new, working = await loops(nats_server, fleet, lag, clock, cut_off)
    for _ in range(2):
        await nc.publish(fleet.subject("web"), b"{}")
    await nc.flush()
    await old.tick()
    assert old.leading  # it took the lease first
    await eventually(lambda: cut_off.calls > 0)

    async def new_scales() -> bool:
        clock.advance(0.5)
        await old.tick()  # it renews the lease, as it reaches NATS
        await new.tick()
        return any(pool == "web" and n > 0 for _, pool, n in working.scale_calls)

    await eventually(new_scales, timeout=20, every=0.05)
    assert new.leading
    assert not old.leading
    said = [r.getMessage() for r in caplog.records if "lease: given up" in r.getMessage()]
    assert len(said) == 1
    assert "401 Unauthorized" in said[0]
    # it gave the lease up only after it had been cut off for STEP_DOWN_TTLS of its TTLs
    assert f"no answer from the Kubernetes API for {STEP_DOWN_TTLS * TTL:.0f} s" in said[0]


async def test_a_leader_the_api_server_answers_keeps_the_lease_whatever_it_says(
    nats_server: NatsServer, nc: Client, fleet: Config, lag: JetStreamLagSource,
    clock: FakeClock,
) -> None:  # fmt: skip
    """A refusal (403) is every controller's: the same ServiceAccount would meet it. Handing
    the lease over would only leave the pools unattended while it passes."""
    refused = Unreachable(fleet, answered=True)
    old, new, _ = await loops(nats_server, fleet, lag, clock, refused)
    await nc.publish(fleet.subject("web"), b"{}")
    await nc.flush()
    await old.tick()
    await eventually(lambda: refused.calls > 0)
    for _ in range(4 * STEP_DOWN_TTLS * round(1 / 0.5 * TTL)):
        clock.advance(0.5)
        await old.tick()
        await new.tick()
    assert old.leading
    assert not new.leading
    assert refused.calls > 1  # it went on trying
