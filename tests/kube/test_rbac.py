"""deploy/'s Role, enforced by the real API server: with each of its rights taken away in
turn, the daemon says what it cannot do in one line, in the API server's own words, lists it
under /healthz's `refused`, and keeps running.
(The emulator's check, tests/controller/actuators/kubernetes/test_manifests.py, proves the
Role grants no more than the requests agentdash makes; this proves that the lack of any one
grant is told and survived.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from nats.aio.client import Client

from controller.core.config import Config, load_config
from controller.sources.jetstream_queues import ensure_queues
from controller.sources.usage import BUSY_SUBJECT
from tests.kube.conftest import FleetFile, RunDaemon
from tests.support import eventually
from tests.support.daemon import Daemon
from tests.support.kube_cluster import AgentdashCluster, Right, deploy_role, rights, without

IDLE_FIRST: Right = ("", "pods", "patch")
"""Used only on a scale-down with pods that workers report idle."""
READ_BACK: Right = ("apps", "deployments/scale", "get")
"""Used only to read back a scale whose answer was lost (tests/controller/actuators/kubernetes
/test_fencing.py), which a healthy API server never loses."""
KEDA_PAUSE: Right = ("keda.sh", "scaledobjects", "patch")
"""Used only to pause a ScaledObject that a pool with take_over: true takes from KEDA."""
HOLDING = {
    ("apps", "deployments", "list"),
    ("apps", "deployments/scale", "patch"),
    ("autoscaling", "horizontalpodautoscalers", "list"),
    ("keda.sh", "scaledobjects", "list"),
    KEDA_PAUSE,
}
"""Without these, the pool cannot be scaled safely, and is held (and /healthz says why); without
any other, it is scaled all the same (with less said, or read less promptly)."""


def refused(right: Right) -> str:
    """How the API server words a refusal of this right."""
    group, resource, verb = right
    return f'cannot {verb} resource "{resource}" in API group "{group}"'


def right_name(right: Right) -> str:
    """How /healthz names a right: `patch deployments/scale (apps)`, `create events`."""
    group, resource, verb = right
    return f"{verb} {resource}" + (f" ({group})" if group else "")


def saying(daemon: Daemon, text: str) -> list[dict[str, Any]]:
    return [line for line in daemon.read() if line["type"] == "log" and text in line["message"]]


def pool_for(right: Right) -> str:
    return "-".join(part for part in right if part).replace("/", "-").replace(".", "-")


@pytest.fixture
def role_restored(kube: AgentdashCluster) -> Iterator[None]:
    yield
    kube.set_role(deploy_role())


async def publish(nc: Client, config: Config, pool: str, n: int) -> None:
    for i in range(n):
        await nc.jetstream().publish(config.subject(pool), json.dumps({"id": i}).encode())


async def scale_up_from_zero(
    right: Right, kube: AgentdashCluster, fleet_file: FleetFile, nc: Client
) -> tuple[Config, str]:
    """A pool at zero with three tasks waiting (and KEDA's ScaledObject on it, to take over,
    for the right to pause KEDA)."""
    pool = pool_for(right)
    kube.deployment(pool, replicas=0)
    take_over = right == KEDA_PAUSE
    if take_over:
        kube.scaled_object(f"{pool}-queue", pool)
    config = load_config(fleet_file(**{pool: {"take_over": take_over}}))
    await ensure_queues(nc, config)
    await publish(nc, config, pool, 3)
    return config, pool


async def says_once_and_runs_on(daemon: Daemon, right: Right) -> dict[str, Any]:
    """Wait for the daemon to say, in the API server's words, what it may not do; three ticks
    later it still runs, and has said it in one line. Its health then."""
    await eventually(lambda: bool(saying(daemon, refused(right))), timeout=30)
    ticks = (await daemon.wait_health(lambda h: True))["ticks"]
    health = await daemon.wait_health(lambda h: h["ticks"] >= ticks + 3)
    assert daemon.process.poll() is None
    said = [line["message"] for line in saying(daemon, refused(right))]
    assert len(said) == 1, "\n".join(said)  # one line: not one a tick, nor one a layer
    return health


@pytest.mark.parametrize(
    "right", [r for r in rights(deploy_role()) if r not in (IDLE_FIRST, READ_BACK)], ids="/".join
)
async def test_without_one_right_the_daemon_says_so_and_keeps_running(
    right: Right,
    kube: AgentdashCluster,
    fleet_file: FleetFile,
    run_daemon: RunDaemon,
    nc: Client,
    role_restored: None,
) -> None:
    config, pool = await scale_up_from_zero(right, kube, fleet_file, nc)
    kube.set_role(without(deploy_role(), right))
    daemon = run_daemon(Path(config.source))

    health = await says_once_and_runs_on(daemon, right)
    # /healthz lists the right refused, in the API server's words, whether it holds or not
    assert refused(right) in health["refused"].get(right_name(right), ""), health["refused"]
    if right in HOLDING:
        # red once the pool's refusal has lasted (controller.runtime.health.STEADY_S)
        health = await daemon.wait_health(lambda h: h["status"] == 503, timeout=30)
        assert refused(right) in health["stale_pools"][pool]
        assert kube.replicas(pool) == 0
    else:
        await eventually(lambda: kube.replicas(pool) == 3, timeout=30)


async def test_without_patch_pods_a_scale_down_goes_on_unmarked(
    kube: AgentdashCluster,
    fleet_file: FleetFile,
    run_daemon: RunDaemon,
    nc: Client,
    role_restored: None,
) -> None:
    pool = pool_for(IDLE_FIRST)
    kube.deployment(pool, replicas=2)
    for i in range(2):
        kube.ready_pod(f"{pool}-{i}", pool)
    config = load_config(fleet_file(**{pool: {"min_replicas": 1}}))
    await ensure_queues(nc, config)
    await publish(nc, config, pool, 2)  # two tasks keep both replicas
    kube.set_role(without(deploy_role(), IDLE_FIRST))
    daemon = run_daemon(Path(config.source))
    await daemon.wait_health(lambda h: h["role"] == "leader" and h["ticks"] > 1)

    for i in range(2):  # both pods idle, as their workers say
        report = {"tenant": "acme", "pool": pool, "pod": f"{pool}-{i}", "busy": 0}
        await nc.publish(f"{BUSY_SUBJECT}.acme", json.dumps(report).encode())
    await nc.flush()
    worker = await nc.jetstream().pull_subscribe_bind(pool, "AGENT_TASKS")
    for task in await worker.fetch(2, timeout=5):
        await task.ack()  # the work is done: one replica is enough

    health = await says_once_and_runs_on(daemon, IDLE_FIRST)
    assert refused(IDLE_FIRST) in health["refused"][right_name(IDLE_FIRST)]
    await eventually(lambda: kube.replicas(pool) == 1, timeout=30)


async def test_without_create_events_many_scales_say_so_once(
    kube: AgentdashCluster,
    fleet_file: FleetFile,
    run_daemon: RunDaemon,
    nc: Client,
    role_restored: None,
) -> None:
    """Every scale meets the same refusal of its Event: a fleet that scales must not log it
    once a scale (500 pools, 500 lines a tick), but once, while /healthz lists it."""
    events: Right = ("", "events", "create")
    pools = ["events-first", "events-second"]
    for pool in pools:
        kube.deployment(pool, replicas=0)
    config = load_config(fleet_file(**{pool: {} for pool in pools}))
    await ensure_queues(nc, config)
    kube.set_role(without(deploy_role(), events))
    daemon = run_daemon(Path(config.source))
    for replicas in (2, 4):  # two scales of each pool, one after the other (a task a replica)
        for pool in pools:
            await publish(nc, config, pool, 2)
        await eventually(
            lambda want=replicas: all(kube.replicas(p) == want for p in pools), timeout=30
        )

    health = await says_once_and_runs_on(daemon, events)
    assert refused(events) in health["refused"][right_name(events)]


async def test_a_follower_that_cannot_read_a_pool_is_not_ready_though_its_leader_can(
    kube: AgentdashCluster,
    fleet_file: FleetFile,
    run_daemon: RunDaemon,
    nc: Client,
    tmp_path: Path,
) -> None:
    """Two daemons, the second on a config whose pool names a namespace with no Role (a typo):
    the leader reads the pool, the follower cannot. The follower shows the leader's replicas,
    but would hold the pool if it came to lead: its /healthz must say so, not 200."""
    pool = "follower-blind"
    kube.deployment(pool, replicas=0)
    path = fleet_file(**{pool: {}})
    await ensure_queues(nc, load_config(path))
    leader = run_daemon(path)
    await leader.wait_health(lambda h: h["role"] == "leader", timeout=30)
    typo = yaml.safe_load(path.read_text())
    typo["pools"][pool]["deployment"]["namespace"] = "agent"
    typo_path = tmp_path / "typo.yaml"
    typo_path.write_text(yaml.safe_dump(typo))
    follower = Daemon(
        typo_path,
        *("--cluster", "kubernetes", "--kubeconfig", str(kube.kubeconfig), "--lease-ttl", "10"),
    )
    try:
        # Not ready from its start (its namespace's refusals), the pool stale once a tick has
        # tried to read it.
        health = await follower.wait_health(
            lambda h: h["role"] == "follower" and h["status"] == 503 and pool in h["stale_pools"],
            timeout=30,
        )
        assert refused(("apps", "deployments", "list")) in health["stale_pools"][pool]
        assert (await leader.health() or {}).get("status") == 200
    finally:
        follower.stop()
