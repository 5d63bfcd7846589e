"""Signals an operator's tools send the daemon: each stops it in order, the lease given up."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from nats.aio.client import Client

from tests.support import eventually
from tests.support.cli import AGENTDASH, EXAMPLE
from tests.support.daemon import Daemon
from tests.support.processes import signalled_while_connecting

pytestmark = pytest.mark.e2e

LONG_TTL = ("--lease-ttl", "30")
"""Longer than any wait here: a follower that leads has been handed the lease, not waited."""


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda sig: sig.name
)
async def test_a_signal_stops_the_leader_in_order_and_hands_the_lease_on(
    fleet_config: Path, daemons: list[Daemon], sig: signal.Signals
) -> None:
    """SIGHUP (the terminal or SSH session that started it closes, `nohup` forgotten) stops
    the daemon as SIGTERM does; killed by it, the daemon kept the lease a whole TTL and gave
    back no ScaledObject it had paused."""
    leader = Daemon(fleet_config, *LONG_TTL)
    daemons.append(leader)
    await leader.wait_health(lambda h: h["status"] == 200 and h["role"] == "leader")
    standby = Daemon(fleet_config, *LONG_TTL)
    daemons.append(standby)
    await standby.wait_health(lambda h: h["role"] == "follower")

    assert leader.stop(sig) == 0, leader.process.stderr.read()  # type: ignore[union-attr]
    assert leader.read()[-1]["type"] == "stop"
    await standby.wait_health(lambda h: h["role"] == "leader", timeout=15)


async def test_a_leader_stopped_in_order_hands_on_every_token_it_counted(
    fleet_config: Path, daemons: list[Daemon], nc: Client
) -> None:
    """A rolling restart (SIGTERM, then a new daemon) counts a hard cap from what the workers
    reported: the tokens reported since the leader's last save in NATS KV (at most every
    10 s) were lost with it, and the tenant could spend them again."""
    leader = Daemon(fleet_config, *LONG_TTL)
    daemons.append(leader)
    await leader.wait_health(lambda h: h["status"] == 200 and h["role"] == "leader")
    usage = {"tenant": "acme", "pool": "acme-research", "tokens": 1234, "work_s": 2.0}
    for _ in range(3):
        await nc.publish("agentdash.usage.acme", json.dumps(usage).encode())
    await nc.flush()
    await eventually(lambda: _tokens_today(leader, "acme", 3702))

    assert leader.stop() == 0, leader.process.stderr.read()  # type: ignore[union-attr]
    successor = Daemon(fleet_config, *LONG_TTL)
    daemons.append(successor)
    await successor.wait_health(lambda h: h["role"] == "leader")
    await eventually(lambda: _tokens_today(successor, "acme", 3702))


async def _tokens_today(daemon: Daemon, tenant: str, tokens: int) -> bool:
    line = f'agentdash_tenant_tokens_today{{tenant="{tenant}"}} {float(tokens)}'
    return line in (await daemon.metrics()).splitlines()


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda sig: sig.name
)
def test_a_signal_while_the_daemon_still_connects_stops_it_there(sig: signal.Signals) -> None:
    """A NATS server that takes the connection and never answers: the daemon is still
    starting when the signal comes. It was not heard: the daemon went on connecting until its
    deadline, then said 'cannot reach NATS' and exited 1 (a pod deleted while NATS is away
    reported a failure, and a start that takes longer, a slow API server's, ran on into the
    kubelet's SIGKILL). It stops there, exit 0, having said nothing."""
    ended = signalled_while_connecting(
        [AGENTDASH, "--controller-only", "--config", str(EXAMPLE), "--cluster", "simulated"],
        sig,
    )
    assert (ended.returncode, ended.stderr, ended.stdout) == (0, "", "")
