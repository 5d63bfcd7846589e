"""A real nats-server killed (`kill -9`) while the daemon starts: its connections open, a
request of the start in flight. The start ends as when NATS is not there: one line, exit 1
(docs/operating.md), no traceback from the connections it closes on the way out."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
from pathlib import Path

import pytest

from agentdash.nats_server import NatsServer
from tests.support.daemon import Daemon
from tests.support.nats_relay import watching_relay
from tests.support.processes import kill_hard

pytestmark = pytest.mark.e2e

ENDED_WITHIN_S = 60.0
"""A hang's bound: the start's requests wait seconds for an answer, not a minute."""


@pytest.mark.parametrize(
    "during",
    [b"$JS.API.", b"$JS.API.STREAM.CREATE.KV_agentdash_leader", b"$JS.API.CONSUMER."],
    ids=["the first request", "the lease", "the queues"],
)
async def test_nats_killed_while_the_daemon_starts_is_one_line_and_exit_1(
    fleet_config: Path, nats_server: NatsServer, daemons: list[Daemon], during: bytes
) -> None:
    port, pid = int(nats_server.url.rsplit(":", 1)[1]), nats_server.pid
    assert pid is not None
    # Stopped as the request is sent, killed once it is there unread: the connection resets.
    stop = functools.partial(os.kill, pid, signal.SIGSTOP)
    async with watching_relay(port, during, stop) as (url, seen):
        daemon = Daemon(fleet_config, "--nats-url", url)
        daemons.append(daemon)
        await asyncio.wait_for(seen.wait(), ENDED_WITHIN_S)
        kill_hard(nats_server)
        code = await asyncio.to_thread(daemon.process.wait, ENDED_WITHIN_S)
    assert daemon.process.stderr is not None
    said = daemon.process.stderr.read()
    assert code == 1, said
    # One line, as for a NATS not there at start: no traceback, no warning of asyncio's.
    assert said == f"agentdash: JetStream at {url}: no answer\n"
    assert daemon.read()[-1]["message"] == said.removeprefix("agentdash: ").rstrip("\n")
