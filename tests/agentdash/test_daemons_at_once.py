"""Three daemons started at the same instant on a NATS where none ran before (no lease
bucket, no handover buckets: each of them makes them): one leads, the others follow it,
and none says a word of trouble."""

from __future__ import annotations

from pathlib import Path

import pytest
from nats.aio.client import Client

from tests.support.daemon import Daemon

pytestmark = pytest.mark.e2e


async def test_three_daemons_started_at_once_agree_on_one_leader(
    fleet_config: Path, nc: Client, daemons: list[Daemon]
) -> None:
    started = [Daemon(fleet_config) for _ in range(3)]
    daemons.extend(started)
    seen = [await daemon.wait_health(lambda h: h["status"] == 200) for daemon in started]
    # Each a few ticks on: a second leader would have shown by then (the TTL is 2 s).
    seen = [
        await daemon.wait_health(lambda h, at=health["ticks"]: h["ticks"] >= at + 3)
        for daemon, health in zip(started, seen, strict=True)
    ]

    assert sorted(health["role"] for health in seen) == ["follower", "follower", "leader"]
    assert len({health["leader"] for health in seen}) == 1
    troubles = [
        line for daemon in started for line in daemon.read()
        if line.get("level") in ("warning", "error") or line["type"] == "error"
    ]  # fmt: skip
    assert troubles == []
