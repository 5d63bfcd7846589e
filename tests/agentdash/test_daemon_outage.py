"""A NATS outage, as an operator lives it: a real nats-server killed under a leading daemon,
then started again on its port with its store."""

from __future__ import annotations

import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from nats.aio.client import Client

from agentdash.nats_client import LOG_EVERY_S
from agentdash.nats_server import NatsServer
from controller.core.config import load_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually
from tests.support.daemon import Daemon, scaled
from tests.support.loops import publish
from tests.support.processes import kill_hard

pytestmark = pytest.mark.e2e

POOL = "acme-research"


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


@pytest.fixture
def unheld(fleet_config: Path) -> Path:
    """The example fleet where nothing but missing data holds POOL's replicas: no cooldown,
    no scale-down window, no hard cap (which holds a pool at one replica until priced)."""
    data = yaml.safe_load(fleet_config.read_text())
    data["tenants"]["acme"]["hard_cap"] = False
    down = {"stabilization_seconds": 0, "max_pods": 10, "period_seconds": 1}
    data["pools"][POOL].update(cooldown_seconds=0, behavior={"scale_down": down})
    fleet_config.write_text(yaml.safe_dump(data))
    return fleet_config


async def test_a_nats_back_without_its_store_is_led_again_and_no_pool_is_scaled_down(
    nats_server: NatsServer, unheld: Path, nc: Client, daemons: list[Daemon]
) -> None:
    """nats-server killed and started again on its port with its JetStream store gone (an
    emptyDir, a new volume): the streams and consumers with it. The daemon makes the lease
    bucket again and leads; a pool scaled up for its tasks is held, its consumer named, though
    nothing else holds it (no cooldown, no window): missing data is not an idle queue. Once
    the queues are made again (`agentdash queues --apply`), empty, it scales down."""
    config = load_config(unheld)
    daemon = Daemon(unheld)
    daemons.append(daemon)
    await daemon.wait_health(lambda h: h["role"] == "leader")
    await publish(nc, config.subject(POOL), 6)
    await eventually(lambda: [e["to"] for e in scaled(daemon, POOL)][-1:] == [3], timeout=15)
    before = scaled(daemon, POOL)  # woken from zero to 1, then 3

    kill_hard(nats_server)
    shutil.rmtree(nats_server.store_dir / "jetstream")
    nats_server.start()
    missing = f"consumer {config.pools[POOL].queue.stream}/{POOL} not found"
    held = await daemon.wait_health(  # 503 once it has lasted 5 s (a pool's own problem)
        lambda h: (h["role"], h["status"], h["stale_pools"].get(POOL)) == ("leader", 503, missing),
        timeout=20,
    )
    await daemon.wait_health(lambda h: h["ticks"] >= held["ticks"] + 5)
    assert scaled(daemon, POOL) == before

    await ensure_queues(nc, config)
    await eventually(lambda: scaled(daemon, POOL)[-1]["to"] == 0, timeout=15)
