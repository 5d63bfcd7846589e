"""The daemon's standard output, its record of what it did, going away while it runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from nats.aio.client import Client

from controller.core.config import load_config
from tests.support import free_port
from tests.support.cli import AGENTDASH
from tests.support.daemon import Daemon

pytestmark = pytest.mark.e2e

LONG_TTL = ("--lease-ttl", "30")
"""Longer than any wait here: a follower that leads has been handed the lease, not waited."""


def leading_into_a_pipe(config: Path) -> subprocess.Popen[str]:
    """A daemon whose JSON lines go to this process, once it has said it leads."""
    command = [AGENTDASH, "--controller-only", "--config", str(config), "--cluster",
               "simulated", "--http", f"127.0.0.1:{free_port()}", *LONG_TTL]  # fmt: skip
    daemon = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert daemon.stdout is not None
    while json.loads(daemon.stdout.readline())["type"] != "health":
        pass  # the lease is taken once it says so (the first to start leads)
    return daemon


async def test_a_leader_whose_output_reader_goes_away_stops_and_hands_the_lease_on(
    fleet_config: Path, nc: Client, daemons: list[Daemon]
) -> None:
    """The task that writes the JSON lines and feeds /metrics died of the closed pipe, unsaid:
    the daemon led on with /healthz 200, its metrics and ticks frozen and nothing logged, for
    good. Its record cannot be written: it stops as on SIGHUP, the lease given up."""
    leader = leading_into_a_pipe(fleet_config)
    try:
        assert leader.stdout is not None
        standby = Daemon(fleet_config, *LONG_TTL)
        daemons.append(standby)
        await standby.wait_health(lambda h: h["role"] == "follower")
        leader.stdout.close()  # `agentdash ... | shipper`, and the shipper exits
        subject = load_config(fleet_config).subject("acme-research")
        for i in range(6):  # a scale to write down: a quiet daemon writes nothing
            await nc.jetstream().publish(subject, json.dumps({"id": i}).encode())

        assert leader.wait(timeout=20) == 0
        assert leader.stderr is not None
        assert "Traceback" not in leader.stderr.read()
        await standby.wait_health(lambda h: h["role"] == "leader", timeout=15)
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()


FULL = Path("/dev/full")


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full here")
def test_a_daemon_writing_into_a_full_disk_stops_in_one_line_and_exit_1(fleet_config: Path) -> None:
    """Its lines are written by a thread (agentdash.line_writer): the write's failure still
    ends the daemon, said once, with no traceback from that thread."""
    command = [AGENTDASH, "--controller-only", "--config", str(fleet_config), "--cluster",
               "simulated", *LONG_TTL]  # fmt: skip
    with FULL.open("w") as full:
        result = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True,
                                timeout=60, check=False)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == "agentdash: cannot write the output: No space left on device\n"
