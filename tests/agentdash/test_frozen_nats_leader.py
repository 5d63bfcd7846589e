"""A daemon leading on the NATS lease, frozen (SIGSTOP) past its TTL while a second daemon
takes over and scales, then thawed (SIGCONT): the thawed one sends the API server no scale
(its lease ran out on its own clock while it was frozen), though it wants more replicas than
the new leader (it runs another config, as in a rollout half done), and follows the new
leader. Both scale the Deployments of kmock's emulator over HTTP, each with a
token of its own, so the emulator tells whose PATCH each is."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import yaml
from kmock import Request
from nats.aio.client import Client

from controller.core.config import load_config
from tests.support import eventually
from tests.support.daemon import Daemon, scaled
from tests.support.kmock import DEPLOYMENTS, Emulator, deployment, kubeconfig
from tests.support.loops import publish

pytestmark = pytest.mark.e2e

POOL = "acme-support"


async def reads_6_waiting(daemon: Daemon) -> bool:
    """Whether the daemon's last read of the pool's queue found 6 tasks waiting."""
    return f'agentdash_pool_lag_tasks{{pool="{POOL}"}} 6.0' in await daemon.metrics()


async def test_a_thawed_nats_leader_sends_no_scale_and_follows_the_new_one(
    cluster: Emulator, fleet_config: Path, nc: Client, daemons: list[Daemon], tmp_path: Path
) -> None:
    config = load_config(fleet_config)
    for name, pool in config.pools.items():
        cluster.objects[DEPLOYMENTS, "agents", name] = deployment(
            name, replicas=pool.min_replicas, version="1"
        )
    patches: list[tuple[float, str]] = []  # when, and whose token

    async def record(request: Request) -> None:
        if request.method == "PATCH" and request.url.path.endswith(f"/{POOL}/scale"):
            patches.append((time.monotonic(), request.headers.get("Authorization", "")))

    cluster.faults.append(record)
    url = str(cluster.url).rstrip("/")

    def on_the_emulator(token: str, *, hard_cap: bool, lag_per_replica: int) -> Daemon:
        data = yaml.safe_load(fleet_config.read_text())
        data["tenants"]["acme"]["hard_cap"] = hard_cap
        data["pools"][POOL]["target_lag_per_replica"] = lag_per_replica
        (tmp_path / f"{token}.yaml").write_text(yaml.safe_dump(data))
        path = kubeconfig(tmp_path / token, url, token=token)
        started = Daemon(tmp_path / f"{token}.yaml", "--cluster", "kubernetes",
                         "--kubeconfig", path, "--context", "kmock")  # fmt: skip
        daemons.append(started)
        return started

    # A replica a task: 6 tasks are 5 more at once (no hard cap holds a pool that has not
    # priced its tasks yet at one replica).
    first = on_the_emulator("first", hard_cap=False, lag_per_replica=1)
    await first.wait_health(lambda h: h["role"] == "leader")
    second = on_the_emulator("second", hard_cap=True, lag_per_replica=100)  # 1 is enough
    await second.wait_health(lambda h: h["role"] == "follower")
    new_leader = second.read()[0]["holder"]

    os.kill(first.process.pid, signal.SIGSTOP)
    try:
        frozen = time.monotonic()
        await second.wait_health(lambda h: h["role"] == "leader", timeout=30)
        await publish(nc, config.subject(POOL), 6)
        await eventually(lambda: reads_6_waiting(second), timeout=15)
        said = len(first.read())
    finally:
        os.kill(first.process.pid, signal.SIGCONT)
    thawed = await first.wait_health(lambda h: h["role"] == "follower" and h["status"] == 200)
    # Ticks of its own after the thaw, each deciding more replicas than the Deployment has.
    await first.wait_health(lambda h: h["ticks"] >= thawed["ticks"] + 3)
    assert first.stop() == 0
    assert scaled(second, POOL) == []

    assert [who for at, who in patches if at > frozen and "first" in who] == []
    thawed = first.read()[said:]
    assert not [e for e in thawed if e["type"] == "scale"], thawed
    told = [e["message"] for e in thawed if e.get("message", "").startswith("lease: ")]
    assert told == [f"lease: following {new_leader}"], told
