"""Signals an operator's tools send the daemon: each stops it in order, the lease given up."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.daemon import Daemon

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
