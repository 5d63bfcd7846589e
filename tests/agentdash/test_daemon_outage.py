"""A NATS outage, as an operator lives it: a real nats-server killed under a leading daemon,
then started again on its port with its store."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentdash.nats_client import LOG_EVERY_S
from agentdash.nats_server import NatsServer
from tests.support.daemon import Daemon
from tests.support.processes import kill_hard

pytestmark = pytest.mark.e2e


@pytest.fixture
def daemon(fleet_config: Path) -> Iterator[Daemon]:
    started = Daemon(fleet_config, "--lease-ttl", "10")  # longer than the outage
    yield started
    if started.process.poll() is None:
        started.process.kill()
        started.process.wait()


async def test_through_a_nats_outage_the_daemon_never_follows_itself_and_leads_again_at_once(
    nats_server: NatsServer, daemon: Daemon
) -> None:
    holder = (await daemon.wait_health(lambda h: h["role"] == "leader"))["leader"]
    kill_hard(nats_server)
    down = time.monotonic()
    lost = await daemon.wait_health(lambda h: h["role"] != "leader")  # it cannot renew
    assert (lost["role"], lost["leader"]) == ("candidate", None)  # not a follower of itself
    # through a few more ticks, and many reconnection attempts (two a second)
    await daemon.wait_health(lambda h: h["ticks"] >= lost["ticks"] + 2, timeout=30)
    nats_server.start()
    outage = time.monotonic() - down
    await daemon.wait_health(lambda h: h["role"] == "leader", timeout=30)
    assert daemon.stop() == 0
    lines = daemon.read()

    said = [line.get("message", "") + line.get("detail", "") for line in lines]
    assert not [line for line in said if f"following {holder}" in line]
    warnings = Counter(  # by problem: a repeat says how often it recurred meanwhile
        re.sub(r" \(and (once|\d+ times) more in the last \d+ s\)$", "", line["message"])
        for line in lines
        if line.get("level") == "warning"
    )
    assert any("Connect call failed" in problem for problem in warnings), warnings
    assert max(warnings.values()) <= 1 + outage // LOG_EVERY_S, warnings  # once per 10 s

    health = [line for line in lines if line["type"] == "health"]
    back = next(e for e in health if (e["source"], e["ok"]) == ("queue", True))
    leads = [e for e in health if (e["source"], e["detail"]) == ("lease", "leading")][-1]
    assert leads["ts"] <= back["ts"]  # the tick that finds NATS back renews the lease
