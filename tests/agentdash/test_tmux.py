"""`agentdash demo` in a real terminal: tmux runs it, we read the screen like a person."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import pytest
import yaml
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from controller.core.config import load_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually
from tests.support.cli import AGENTDASH, EXAMPLE
from tests.support.daemon import Daemon, scaled
from tests.support.processes import embedded_servers, gone_within
from tests.support.tmux import screen, tmux

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)"
    ),
]


def test_the_demo_dashboard_shows_the_fleet_and_scale_events() -> None:
    before = embedded_servers()
    session = f"agentdash-{uuid.uuid4().hex[:8]}"
    command = f"{AGENTDASH} demo --cold-start 0.5"
    started = tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36", command)
    assert started.returncode == 0, started.stderr
    try:
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline:
            text = screen(session)
            if "POOL" in text and "acme-research" in text and "→" in text:
                break
            time.sleep(0.2)  # polling another process's screen, with a deadline
        assert "POOL" in text, text
        assert "Recent scale events" in text
        assert "→" in text, "no scale event on screen within 60 s:\n" + text
        assert "pods " in text
        assert "running" in text

        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 30
        while tmux("has-session", "-t", session).returncode == 0:
            assert time.monotonic() < deadline, "agentdash did not quit on q"
            time.sleep(0.2)
    finally:
        tmux("kill-session", "-t", session)
    # Stopped before it left; the kernel may still be tearing one down.
    left = embedded_servers() - before
    assert all(gone_within(pid, 5) for pid in left), left


async def test_a_dashboard_attached_to_a_daemon_shows_what_it_did_before(
    tmp_path: Path, nats_server: NatsServer, nc: Client
) -> None:
    """The daemon scales before any dashboard runs; one started later, as a follower, shows
    that scale event on its Events screen, and the leader's replicas on Fleet."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nats"] = {"url": nats_server.url}
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    await ensure_queues(nc, config)
    for i in range(12):
        await nc.jetstream().publish(config.subject("acme-research"), json.dumps({"i": i}).encode())
    daemon = Daemon(path)
    session = f"agentdash-{uuid.uuid4().hex[:8]}"
    try:
        await eventually(lambda: bool(scaled(daemon, "acme-research")), timeout=30, every=0.1)
        [event] = scaled(daemon, "acme-research")
        change = f"{event['from']} → {event['to']}"
        command = f"{AGENTDASH} --config {path} --cluster simulated --lease-ttl 2"
        started = tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36", command)
        assert started.returncode == 0, started.stderr
        await eventually(lambda: "following" in screen(session), timeout=60, every=0.2)

        def leaders_replicas_shown() -> bool:  # REPLICAS is current/desired/ready
            rows = [line for line in screen(session).splitlines() if "acme-research" in line]
            return bool(rows) and f" {event['to']}/{event['to']}/" in rows[0]

        await eventually(leaders_replicas_shown, timeout=30, every=0.2)

        tmux("send-keys", "-t", session, "e")

        def history_shown() -> bool:
            return any("acme-research" in line and change in line
                       for line in screen(session).splitlines())  # fmt: skip

        await eventually(history_shown, timeout=30, every=0.2)
        tmux("send-keys", "-t", session, "q")
        await eventually(lambda: tmux("has-session", "-t", session).returncode != 0,
                         timeout=30, every=0.2)  # fmt: skip
    finally:
        tmux("kill-session", "-t", session)
        daemon.stop()


def test_keys_typed_in_one_burst_land_in_the_dialogs_fields() -> None:
    """Over SSH several keys often arrive in one packet: tmux writes "3 Tab 2 Enter" at once."""
    session = f"agentdash-{uuid.uuid4().hex[:8]}"
    command = f"{AGENTDASH} demo --cold-start 0.5"
    started = tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36", command)
    assert started.returncode == 0, started.stderr
    try:
        wait_for(session, "acme-research")
        for dialog, asked in (
            ("x", "(scale it to 3) for 2 min?"),
            ("w", "at 3 warm replicas for 2 min?"),
        ):
            tmux("send-keys", "-t", session, dialog)
            wait_for(session, "minutes")
            tmux("send-keys", "-t", session, "BSpace", "3", "Tab", "2", "Enter")
            wait_for(session, asked)
            tmux("send-keys", "-t", session, "Escape")
            wait_for(session, "Recent scale events")
        tmux("send-keys", "-t", session, "q")
    finally:
        tmux("kill-session", "-t", session)


def wait_for(session: str, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in (shown := screen(session)):
        assert time.monotonic() < deadline, f"no {text!r} on screen:\n{shown}"
        time.sleep(0.2)  # polling another process's screen, with a deadline
