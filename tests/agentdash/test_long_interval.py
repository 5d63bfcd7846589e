"""A daemon that ticks less often than its lease lasts (`interval_seconds: 20`, the lease's
TTL 10 s) keeps the lease between its ticks, with a second daemon standing by: the lease is
renewed by a tick, and one due after the lease runs out would leave it to the other."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import yaml

from tests.support.daemon import Daemon

pytestmark = pytest.mark.e2e

INTERVAL_S = 20
WATCHED_S = 25.0
"""Past a whole interval, and twice the lease's TTL."""


@pytest.fixture
def slow_fleet(fleet_config: Path) -> Path:
    data = yaml.safe_load(fleet_config.read_text())
    data["controller"]["interval_seconds"] = INTERVAL_S
    fleet_config.write_text(yaml.safe_dump(data))
    return fleet_config


async def test_a_leader_keeps_its_lease_between_ticks_further_apart_than_it_lasts(
    slow_fleet: Path, daemons: list[Daemon]
) -> None:
    first = Daemon(slow_fleet, "--lease-ttl", "10")
    daemons.append(first)
    holder = (await first.wait_health(lambda h: h["role"] == "leader"))["leader"]
    second = Daemon(slow_fleet, "--lease-ttl", "10")  # its first tick finds the lease held
    daemons.append(second)
    await second.wait_health(lambda h: h["role"] == "follower")
    watched_until = time.monotonic() + WATCHED_S
    while time.monotonic() < watched_until:  # the fault itself: time passing between ticks
        health = await first.health()
        assert health is not None
        # It said `leader` naming no one once its lease ran out, 10 s after each tick.
        assert (health["role"], health["leader"]) == ("leader", holder), health
        assert (await second.health() or {}).get("role") == "follower"
        await asyncio.sleep(0.2)
    assert first.stop() == 0
    assert second.stop() == 0
    taken = [line for line in second.read() if line.get("message") == "lease: leading"]
    assert not taken, taken
