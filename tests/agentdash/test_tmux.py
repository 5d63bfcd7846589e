"""`agentdash demo` in a real terminal: tmux runs it, we read the screen like a person."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import pytest

from tests.agentdash.test_cli import AGENTDASH
from tests.agentdash.test_demo import embedded_servers

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)"
)


def tmux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False)


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session).stdout


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
    assert embedded_servers() == before
