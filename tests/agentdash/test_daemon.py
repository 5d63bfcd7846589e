"""`agentdash --controller-only` as an operator runs it: real processes on a real NATS."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from agentdash.opening import RuntimeOptions
from agentdash.runtime import start
from controller.coordination.lease import BUCKET, KEY
from controller.coordination.overrides import OverrideStore
from controller.coordination.shared import SharedOverrides
from controller.core.config import load_config
from controller.core.printable import redacted
from controller.runtime.leadership import QUIET_S
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually, free_port
from tests.support.accounts import SHIPPED, AccountsServer
from tests.support.cli import AGENTDASH, EXAMPLE
from tests.support.daemon import Daemon, scaled
from tests.support.kmock import kubeconfig, kubeconfig_without_context

pytestmark = pytest.mark.e2e


async def test_the_daemon_scales_reports_and_stops_cleanly(
    fleet_config: Path, nc: Client, daemons: list[Daemon]
) -> None:
    daemon = Daemon(fleet_config)
    daemons.append(daemon)
    health = await daemon.wait_health(lambda h: h["status"] == 200)
    assert health["role"] == "leader"
    config = load_config(fleet_config)
    await ensure_queues(nc, config)
    for i in range(6):
        await nc.jetstream().publish(
            config.subject("acme-research"), json.dumps({"id": i}).encode()
        )
    await eventually(lambda: bool(scaled(daemon, "acme-research")), timeout=15)
    scale = scaled(daemon, "acme-research")[0]
    assert scale["from"] == 0
    assert scale["to"] > 0
    assert scale["reasons"][0]["rule"] == "demand"
    metrics = await daemon.metrics()
    assert 'agentdash_pool_desired_replicas{pool="acme-research",tenant="acme"}' in metrics
    assert "agentdash_scale_events_total" in metrics
    assert "agentdash_reconcile_duration_seconds_count" in metrics
    waited = 'agentdash_pool_oldest_task_age_seconds{pool="acme-research",tier="enterprise"} '

    async def oldest_served() -> bool:  # no worker takes them: the first one waits on
        return waited in await daemon.metrics()

    await eventually(oldest_served, timeout=15)

    assert daemon.stop(signal.SIGTERM) == 0
    assert daemon.read()[-1]["type"] == "stop"
    assert daemon.lines[0]["type"] == "start"


async def test_a_stop_while_nats_is_down_is_clean(
    nats_server: NatsServer, fleet_config: Path, daemons: list[Daemon]
) -> None:
    """SIGTERM during a NATS outage: the stop goes on without it (exit 0, a stop line), where
    closing the lost connection raised ConnectionResetError through the stop."""
    daemon = Daemon(fleet_config)
    daemons.append(daemon)
    await daemon.wait_health(lambda h: h["status"] == 200)
    nats_server.stop()
    await daemon.wait_health(lambda h: h["status"] == 503)
    code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.process.stderr.read()  # type: ignore[union-attr]
    assert daemon.read()[-1]["type"] == "stop"


async def test_a_missing_consumer_turns_health_red_naming_the_pool_until_it_exists(
    bare_config: Path, nc: Client, daemons: list[Daemon]
) -> None:
    """A typo in a consumer's name must not silently stop a pool from scaling."""
    config = load_config(bare_config)
    daemon = Daemon(bare_config)
    daemons.append(daemon)

    red = await daemon.wait_health(lambda h: h["status"] == 503 and h["ticks"] > 2)
    missing = "consumer AGENT_TASKS_ACME/acme-research not found"
    assert red["stale_pools"]["acme-research"] == missing
    assert red["stale_count"] == len(config.pools)
    assert 'agentdash_pool_stale{pool="acme-research",reason="' + missing in (
        await daemon.metrics()
    )
    ticks = red["ticks"]
    again = await daemon.wait_health(lambda h: h["ticks"] >= ticks + 3)
    assert again["status"] == 503  # a lasting fault stays red: no flapping

    await ensure_queues(nc, config)
    green = await daemon.wait_health(lambda h: h["status"] == 200)
    assert green["stale_pools"] == {}

    def told() -> list[tuple[str, bool, str]]:
        lines = [e for e in daemon.read() if e["type"] == "health" and "research" in e["source"]]
        return [(e["source"], e["ok"], e["detail"]) for e in lines]

    await eventually(lambda: len(told()) == 2, timeout=20)  # its end, once it has lasted
    assert told() == [
        ("pool acme-research", False, missing),
        ("pool acme-research", True, "recovered"),
    ]  # one line when it went stale, one when it came back: not one a tick
    assert "agentdash_leader 1.0" in await daemon.metrics()
    assert "agentdash_build_info{" in await daemon.metrics()


async def test_two_daemons_one_leader_and_a_takeover_within_the_ttl(
    fleet_config: Path, nc: Client, daemons: list[Daemon]
) -> None:
    first = Daemon(fleet_config)
    daemons.append(first)
    await first.wait_health(lambda h: h["status"] == 200 and h["role"] == "leader")
    second = Daemon(fleet_config)
    daemons.append(second)
    follower = await second.wait_health(lambda h: h["status"] == 200)
    assert follower["role"] == "follower"
    assert follower["leader"] == (await first.health() or {}).get("leader")

    config = load_config(fleet_config)
    await ensure_queues(nc, config)
    for i in range(4):
        await nc.jetstream().publish(config.subject("globex-coder"), json.dumps({"id": i}).encode())
    await eventually(lambda: bool(scaled(first)), timeout=15)
    assert scaled(second) == []  # only the leader patches

    first.process.kill()  # no goodbye: the lease must expire
    first.process.wait()
    # A bound on a hang, not a speed: the lease it takes over lives 2 s unrenewed.
    await second.wait_health(lambda h: h["role"] == "leader", timeout=30)


async def test_pins_and_pauses_survive_a_restart(
    fleet_config: Path, nc: Client, daemons: list[Daemon]
) -> None:
    config = load_config(fleet_config)
    await ensure_queues(nc, config)
    first = Daemon(fleet_config)
    daemons.append(first)
    await first.wait_health(lambda h: h["status"] == 200)
    store = OverrideStore(config, who=lambda: "alice")
    shared = SharedOverrides(nc, store, config)
    await shared.start()
    store.pin("globex-triage", 2)
    store.pause_tenant("initech")
    await shared.flush()
    await eventually(lambda: bool(scaled(first, "globex-triage")), timeout=15)
    assert first.stop() == 0
    await shared.stop()

    second = Daemon(fleet_config)  # its simulated cluster starts empty
    daemons.append(second)
    await second.wait_health(lambda h: h["status"] == 200)
    await eventually(lambda: bool(scaled(second, "globex-triage")), timeout=15)
    again_scaled = scaled(second, "globex-triage")[0]
    assert again_scaled["to"] == 2
    assert again_scaled["reasons"][-1]["rule"] == "pin"  # remembered, not re-entered
    reloaded = OverrideStore(config)
    again = SharedOverrides(nc, reloaded, config)
    await again.start()
    assert reloaded.current().pins["globex-triage"].replicas == 2
    assert reloaded.current().paused_tenants == {"initech"}
    assert second.stop() == 0
    audit = await nc.jetstream().pull_subscribe("agentdash.audit", "audit-reader")
    entries = [json.loads(m.data) for m in await audit.fetch(2, timeout=2)]
    assert [(e["who"], e["action"], e["target"]) for e in entries] == [
        ("alice", "pin", "globex-triage"), ("alice", "pause tenant", "initech"),
    ]  # fmt: skip
    assert all(e["from"] for e in entries)
    await again.stop()


def actions(daemon: Daemon) -> list[dict[str, Any]]:
    """The operator actions a daemon logged, as ActionEvent.as_dict() says them."""
    said = ("type", "ts", "who", "action", "target", "detail")
    return [{k: e[k] for k in said} for e in daemon.read() if e["type"] == "action"]


def left_to_the_leader(daemon: Daemon) -> int:
    """Actions a following daemon read and did not log (said at --log-level debug)."""
    return sum("the leader logs it" in e.get("message", "") for e in daemon.read())


async def test_actions_taken_on_a_following_dashboard_are_in_the_leaders_log_once(
    nats_server: NatsServer, fleet_config: Path, daemons: list[Daemon]
) -> None:
    leader = Daemon(fleet_config)
    daemons.append(leader)
    await leader.wait_health(lambda h: h["role"] == "leader")
    follower = Daemon(fleet_config, "--log-level", "debug")
    daemons.append(follower)
    await follower.wait_health(lambda h: h["role"] == "follower")
    config = load_config(fleet_config)
    options = RuntimeOptions(nats_server.url, cluster="simulated", lead=False)
    dashboard = await start(config, options)  # `agentdash --config FILE`, following
    try:
        store = dashboard.loop.store
        taken = [
            store.pin("globex-triage", 2),
            store.pause_pool("acme-research", None, None),
            store.pause_tenant("initech"),
            store.pause_controller(),
            store.set_dry_run(True),
        ]
        await dashboard.shared.flush()
    finally:
        await dashboard.stop()
    told = [event.as_dict() for event in taken]
    await eventually(lambda: len(actions(leader)) >= len(told), timeout=15)
    assert actions(leader) == told  # who and when: the operator's, as the audit has them
    here = f"{socket.gethostname()}:{os.getpid()}"
    assert {e["from"] for e in leader.read() if e["type"] == "action"} == {here}
    await eventually(lambda: left_to_the_leader(follower) == len(told), timeout=15)
    assert actions(follower) == []  # once in the logs: the leader's

    assert leader.stop() == 0  # the follower leads; a new daemon follows it
    await follower.wait_health(lambda h: h["role"] == "leader")
    again = Daemon(fleet_config)
    daemons.append(again)
    await again.wait_health(lambda h: h["role"] == "follower")
    started = again.read()[0]
    assert (started["type"], started["dry_run"], started["paused"]) == ("start", True, True)
    assert actions(follower) == [] == actions(again)  # what was done before is not told again


async def test_an_action_taken_while_the_leader_is_killed_is_in_the_new_leaders_log(
    nats_server: NatsServer, fleet_config: Path, daemons: list[Daemon]
) -> None:
    """A pin taken a second after the leader's kill -9, while its lease still ran: the
    follower left it to that leader, and logged nothing when it led: no daemon's log had it."""
    leader = Daemon(fleet_config)
    daemons.append(leader)
    await leader.wait_health(lambda h: h["role"] == "leader")
    follower = Daemon(fleet_config, "--log-level", "debug")
    daemons.append(follower)
    await follower.wait_health(lambda h: h["role"] == "follower")
    config = load_config(fleet_config)
    options = RuntimeOptions(nats_server.url, cluster="simulated", lead=False)
    dashboard = await start(config, options)
    try:
        leader.process.kill()
        leader.process.wait()
        taken = dashboard.loop.store.pin("globex-triage", 2)
        await dashboard.shared.flush()
    finally:
        await dashboard.stop()
    await eventually(lambda: left_to_the_leader(follower) == 1, timeout=15)
    await follower.wait_health(lambda h: h["role"] == "leader")
    await eventually(lambda: actions(follower) == [taken.as_dict()], timeout=15)
    assert actions(leader) == []


async def test_an_action_taken_while_no_daemon_runs_is_logged_once_by_the_daemon_that_leads(
    nats_server: NatsServer, fleet_config: Path, daemons: list[Daemon]
) -> None:
    """A pin on a dashboard with no daemon running: the daemon started then pinned the pool
    and later said the pin expired, but never logged it being taken."""
    config = load_config(fleet_config)
    options = RuntimeOptions(nats_server.url, cluster="simulated", lead=False)
    dashboard = await start(config, options)
    try:
        taken = dashboard.loop.store.pin("globex-triage", 2)
        await dashboard.shared.flush()
    finally:
        await dashboard.stop()
    first = Daemon(fleet_config)
    daemons.append(first)
    await first.wait_health(lambda h: h["role"] == "leader")
    await eventually(lambda: actions(first) == [taken.as_dict()], timeout=15)
    second = Daemon(fleet_config)
    daemons.append(second)
    await second.wait_health(lambda h: h["role"] == "follower")
    assert first.stop() == 0  # the second leads: the first had logged the pin
    await second.wait_health(lambda h: h["role"] == "leader")
    third = Daemon(fleet_config)  # starts after every leader so far logged it
    daemons.append(third)
    await third.wait_health(lambda h: h["role"] == "follower")
    assert second.stop() == 0
    await third.wait_health(lambda h: h["role"] == "leader")
    assert actions(second) == [] == actions(third)  # once in the logs: the first's


CONSUMER_INFO = b'{"type":"io.nats.jetstream.api.v1.consumer_info_response","stream_name":"X"}'
"""What a worker once had the server store as the lease: an answer, sent to the lease's key
as the reply subject of its request."""


async def test_a_broken_lease_is_told_once_never_followed_and_taken_over_after_the_ttl(
    fleet_config: Path, nc: Client, daemons: list[Daemon]
) -> None:
    kv = await nc.jetstream().create_key_value(bucket=BUCKET, ttl=2, history=1)  # --lease-ttl 2

    async def forge() -> None:  # the attack, repeated: the value never expires
        while True:
            await kv.put(KEY, CONSUMER_INFO)
            await asyncio.sleep(1.5)

    attack = asyncio.create_task(forge())
    started = time.monotonic()
    try:
        daemon = Daemon(fleet_config)
        daemons.append(daemon)
        red = await daemon.wait_health(lambda h: "lease" in h["problems"])
        assert (red["status"], red["ready"], red["role"], red["leader"]) == (
            503, False, "candidate", None,
        )  # fmt: skip
        assert red["broken_lease"]["value"].startswith('\'{"type":"io.nats.jetstream.api')
        assert "not an agentdash lease" in red["problems"]["lease"]
        counted = re.search(r'bad_messages_total\{source="lease"\} (\S+)', await daemon.metrics())
        assert counted is not None
        assert float(counted[1]) >= 1  # each read of it: the attack writes it again and again
        green = await daemon.wait_health(lambda h: h["status"] == 200, timeout=30)
        assert green["role"] == "leader"  # its own name over the broken value, attack or not
    finally:
        attack.cancel()
    lines = daemon.read()
    messages = [e.get("message", "") + e.get("detail", "") for e in lines]
    assert not [m for m in messages if "following {" in m or "following '" in m]
    broken = [e for e in lines if e["type"] == "log" and "lease: broken:" in e["message"]]
    assert broken[0]["message"].startswith("lease: broken: revision ")
    assert len(broken) <= 1 + (time.monotonic() - started) // QUIET_S  # not one a write


def test_unreachable_nats_is_one_line_and_a_failure(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    url = f"nats://127.0.0.1:{free_port()}"
    data["nats"] = {"url": url}
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    result = subprocess.run([AGENTDASH, "--controller-only", "--config", str(path),
                             "--cluster", "simulated"],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == f"agentdash: cannot reach NATS at {url}: Connection refused\n"
    # Its record, and no log line before it saying the same ("NATS: [Errno 111] ...")
    (error,) = map(json.loads, result.stdout.splitlines())
    assert error["type"] == "error"
    assert error["message"] == f"cannot reach NATS at {url}: Connection refused"


@pytest.mark.parametrize(
    ("conf", "user", "said"),
    [
        ("", None, "NATS at {url} has no JetStream (start nats-server with -js)"),
        (
            SHIPPED,
            "worker-acme",
            "JetStream at {url}: the server forbids this user: permissions violation for "
            'publish to "$js.api.info" (agentdash\'s user must '
            "be allowed JetStream's API, $JS.API.>; a tenant's worker or a producer is not)",
        ),
    ],
    ids=["a server without -js", "a tenant's user given to the daemon"],
)
def test_a_nats_without_jetstream_for_it_is_one_line_and_a_failure(
    tmp_path: Path, conf: str | Path, user: str | None, said: str
) -> None:
    """It was a traceback of nats.py's ServiceUnavailableError, from the overrides bucket."""
    if not conf:
        conf = tmp_path / "plain.conf"
        conf.write_text("")
    server = AccountsServer(tmp_path, Path(conf))
    try:
        url = server.url(user) if user else f"nats://127.0.0.1:{server.port}"
        command = [AGENTDASH, "--controller-only", "--config", str(EXAMPLE),
                   "--cluster", "simulated", "--nats-url", url]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    finally:
        server.stop()
    line = said.format(url=redacted(url))
    assert (result.returncode, result.stderr) == (1, f"agentdash: {line}\n")
    # JetStream is asked before anything is subscribed: no warning for each pool's subject
    # and tenant's reports the user may not read (nine of them on the example fleet)
    logged = [json.loads(text) for text in result.stdout.splitlines()]
    assert logged[-1] == {"type": "error", "ts": logged[-1]["ts"], "message": line}
    assert len(logged) <= 2, logged


def test_a_kubeconfig_it_cannot_use_is_one_line_and_exit_2(
    fleet_config: Path, tmp_path: Path
) -> None:
    """The file the user gave is wrong, not the cluster away: bad input, exit 2."""
    unusable = kubeconfig_without_context(tmp_path / "kubeconfig")
    result = subprocess.run([AGENTDASH, "--controller-only", "--config", str(fleet_config),
                             "--kubeconfig", unusable],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(f"agentdash: kubeconfig {unusable}: ")
    assert result.stderr.count("\n") == 1


def test_a_context_the_kubeconfig_lacks_is_one_line_and_exit_2(
    fleet_config: Path, tmp_path: Path
) -> None:
    path = kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
    result = subprocess.run([AGENTDASH, "--controller-only", "--config", str(fleet_config),
                             "--kubeconfig", path, "--context", "staging"],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(f"agentdash: kubeconfig {path}: ")
    assert "staging" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_malformed_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "agentdash.yaml"
    path.write_text("pools: [1, 2]\n")
    result = subprocess.run([AGENTDASH, "--controller-only", "--config", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(f"agentdash: {path}: ")
    assert result.stderr.count("\n") == 1


async def test_a_lease_ttl_unlike_the_running_controllers_is_one_line_and_exit_2(
    fleet_config: Path, daemons: list[Daemon]
) -> None:
    first = Daemon(fleet_config)  # --lease-ttl 2
    daemons.append(first)
    await first.wait_health(lambda h: h["role"] == "leader")
    second = await asyncio.create_subprocess_exec(
        AGENTDASH, "--controller-only", "--config", str(fleet_config), "--cluster", "simulated",
        "--lease-ttl", "5", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(second.communicate(), timeout=30)
    assert second.returncode == 2
    assert stderr.decode().splitlines() == [
        "agentdash: --lease-ttl 5: the lease bucket agentdash_leader already has a TTL of 2 s,"
        " and every controller must use the same (use 2, or delete the bucket with"
        " `nats kv del agentdash_leader` while none runs)"
    ]


async def test_a_dry_run_daemon_never_takes_the_lease_and_says_what_it_would_do(
    fleet_config: Path, nc: Client, daemons: list[Daemon]
) -> None:
    """Started first, beside none, a --dry-run daemon took the lease, and while it held it
    nothing scaled: the real daemon beside it followed. It now never contends."""
    dry = Daemon(fleet_config, "--dry-run")
    daemons.append(dry)
    shadow = await dry.wait_health(lambda h: h["ticks"] > 2)
    assert shadow["role"] == "candidate"  # none leads yet, and it will not
    real = Daemon(fleet_config)
    daemons.append(real)
    await real.wait_health(lambda h: h["status"] == 200 and h["role"] == "leader")

    config = load_config(fleet_config)
    await ensure_queues(nc, config)
    for i in range(4):
        await nc.jetstream().publish(config.subject("globex-coder"), json.dumps({"id": i}).encode())
    await eventually(lambda: bool(scaled(real, "globex-coder")), timeout=15)

    def would() -> list[str]:
        return [e["message"] for e in dry.read() if e.get("message", "").startswith("dry-run:")]

    await eventually(lambda: any("globex-coder would scale 0 ->" in m for m in would()), timeout=15)
    assert [e for e in scaled(dry) if not e.get("dry_run")] == []
    assert (await dry.health() or {})["role"] == "follower"
