"""A leader frozen (SIGSTOP) past its Lease while a second daemon stands by, then thawed
(SIGCONT) once the second has taken over and scaled: the thawed one never scales (its lease
ran out while it was frozen: every call is fenced by it), and follows the new leader at once."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from nats.aio.client import Client

from tests.kube.conftest import Leading, RunDaemon
from tests.support import eventually
from tests.support.daemon import Daemon, scaled
from tests.support.kube_cluster import AgentdashCluster
from tests.support.loops import publish

POOL = "thawed"


@contextmanager
def frozen(daemon: Daemon) -> Iterator[None]:
    os.kill(daemon.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(daemon.process.pid, signal.SIGCONT)


async def test_a_thawed_leader_never_scales_and_follows_the_new_one_at_once(
    kube: AgentdashCluster, leading: Leading, run_daemon: RunDaemon, nc: Client
) -> None:
    led = await leading(POOL, 3)
    first, config = led.daemon, led.config
    second = run_daemon(led.path, standby=True)
    await second.wait_health(lambda h: h["role"] == "follower", timeout=60)
    new_leader = second.read()[0]["holder"]

    with frozen(first):
        await second.wait_health(lambda h: h["role"] == "leader", timeout=60)
        await publish(nc, config.subject(POOL), 4)
        await eventually(lambda: kube.replicas(POOL) == 7, timeout=30)
        said = len(first.read())
    await first.wait_health(lambda h: h["role"] == "follower" and h["status"] == 200)
    await publish(nc, config.subject(POOL), 2)  # a change for the leader to make
    await eventually(lambda: kube.replicas(POOL) == 9, timeout=30)
    assert first.stop() == 0

    thawed = first.read()[said:]
    assert not [e for e in thawed if e["type"] == "scale"], thawed
    # It said "lease source failing: no valid leader for more than the lease's TTL" first.
    assert not [e for e in thawed if e.get("level") == "warning"], thawed
    told = [e["message"] for e in thawed if e.get("message", "").startswith("lease: ")]
    assert told == [f"lease: following {new_leader}"], told
    assert [e["to"] for e in scaled(second, POOL)] == [7, 9]
