"""The interactive demo in a real terminal (tmux): its exit summary, and a closed terminal."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support.cli import AGENTDASH
from tests.support.processes import alive, gone_within, store_of
from tests.support.tmux import screen, tmux

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)"
    ),
]


@pytest.fixture
def session() -> Iterator[str]:
    name = f"agentdash-{uuid.uuid4().hex[:8]}"
    yield name
    tmux("kill-session", "-t", name)


def start(session: str) -> None:
    """The demo dashboard in a 120x36 terminal, run from a shell as a user runs it: the shell
    stays after the demo exits, with its output and exit status on screen. (A pane whose only
    process exits can lose the last lines it wrote: tmux may mark it dead before reading them.)"""
    command = f"{AGENTDASH} demo --cold-start 0.5 --speed 4; echo demo exited $?; sleep 600"
    started = tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36", command)
    assert started.returncode == 0, started.stderr


def wait_for_screen(session: str, pattern: str, timeout: float = 60) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while True:
        text = screen(session)
        if found := re.search(pattern, text):
            return found
        assert time.monotonic() < deadline, f"no {pattern!r} on screen:\n{text}"
        time.sleep(0.2)  # polling another process's screen, with a deadline


def server_of(session: str) -> int:
    """The pid of the embedded nats-server under the pane's process."""
    pane = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").stdout)
    found = descendants(pane, "nats-server")
    assert len(found) == 1, found
    return found[0]


def descendants(pid: int, name: str) -> list[int]:
    found = []
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    for child in map(int, children.stdout.split()):
        command = subprocess.run(["ps", "-o", "comm=", "-p", str(child)],
                                 capture_output=True, text=True).stdout.strip()  # fmt: skip
        found += [child] if command == name else descendants(child, name)
    return found


def test_quitting_the_dashboard_prints_how_many_times_it_scaled(session: str) -> None:
    start(session)
    wait_for_screen(session, "→")  # a scale event on screen
    pid = server_of(session)
    tmux("send-keys", "-t", session, "q")
    found = wait_for_screen(session, r"scale events (\d+)", timeout=30)
    assert int(found.group(1)) > 0
    assert "lost 0" in screen(session)
    wait_for_screen(session, "demo exited 0", timeout=30)
    assert not alive(pid)


def test_a_closed_terminal_stops_the_dashboard_and_its_server(session: str) -> None:
    start(session)
    wait_for_screen(session, "→")
    pid = server_of(session)
    store = store_of(pid)
    pane = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").stdout)
    (demo,) = descendants(pane, "agentdash")
    tmux("kill-session", "-t", session)  # the terminal goes away: SIGHUP
    assert gone_within(pid, timeout=15), f"nats-server {pid} outlived the closed terminal"
    # The demo itself exits too: it used to hang in the screen's last writes, for good.
    assert gone_within(demo, timeout=15), f"the demo ({demo}) outlived the closed terminal"
    deadline = time.monotonic() + 15
    while store.exists():  # the demo quit in order: it removed the server's store
        assert time.monotonic() < deadline, f"{store} left behind"
        time.sleep(0.05)  # polling the demo's clean-up, with a deadline
