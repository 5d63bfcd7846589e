"""A leader stopped (SIGTERM) while its real nats-server is stalled (SIGSTOP) or killed
(`kill -9`). Its last message to the followers is flushed to NATS (agentdash.runtime), and
nats.py's flush, unanswered, raises its own TimeoutError after 10 s and leaves its PONG
awaited: the stop goes on past it, exit 0 as docs/operating.md promises, nothing on stderr,
the record ended by its stop line."""

from __future__ import annotations

import asyncio
import signal
from contextlib import nullcontext
from pathlib import Path

import pytest

from agentdash.nats_server import NatsServer
from tests.support.daemon import Daemon
from tests.support.processes import kill_hard, stalled

pytestmark = pytest.mark.e2e

STOPPED_WITHIN_S = 60.0
"""A hang's bound: the stop's NATS calls each wait seconds, not a minute."""


@pytest.mark.parametrize("fault", ["stalled", "killed"])
async def test_a_leader_stopped_while_nats_is_lost_stops_in_order(
    fleet_config: Path, nats_server: NatsServer, daemons: list[Daemon], fault: str
) -> None:
    daemon = Daemon(fleet_config, "--lease-ttl", "10")
    daemons.append(daemon)
    await daemon.wait_health(lambda h: h["role"] == "leader" and h["ticks"] > 1)
    if fault == "killed":
        kill_hard(nats_server)
    with stalled(nats_server) if fault == "stalled" else nullcontext():
        daemon.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(daemon.process.wait, STOPPED_WITHIN_S)
    assert daemon.process.stderr is not None
    said = daemon.process.stderr.read()
    assert (code, said) == (0, "")
    assert daemon.read()[-1]["type"] == "stop"
