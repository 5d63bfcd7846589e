"""A dashboard always exits: whatever happens to its terminal, it is gone within a few seconds
of `q`, SIGHUP or SIGTERM, and leaves no nats-server behind. Real processes in real
pseudo-terminals; a terminal closes as an SSH session that drops."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from agentdash.nats_server import NatsServer
from agentdash.tui.leaving import GRACE_S
from tests.support.cli import AGENTDASH, EXAMPLE
from tests.support.processes import alive, descendants, gone_within
from tests.support.terminal import Terminal

pytestmark = pytest.mark.e2e

EXIT_WITHIN_S = GRACE_S + 10
"""The watchdog's grace, and the time a loaded test machine takes to notice."""


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.kill()


def demo(terminals: list[Terminal]) -> tuple[Terminal, int]:
    """The demo dashboard once it drew a scale event, and its embedded nats-server's pid."""
    terminal = Terminal([AGENTDASH, "demo", "--cold-start", "0.5", "--speed", "4"])
    terminals.append(terminal)
    terminal.wait_for("→")
    (server,) = descendants(terminal.process.pid, "nats-server")
    return terminal, server


def quit_and_hang_up(terminal: Terminal) -> None:
    """`q`, and the terminal closes at once, while the dashboard stops."""
    terminal.type("q")
    terminal.close()


def sigterm(terminal: Terminal) -> None:
    terminal.process.send_signal(signal.SIGTERM)


def sighup(terminal: Terminal) -> None:
    terminal.process.send_signal(signal.SIGHUP)


ENDINGS = [quit_and_hang_up, sigterm, sighup]


@pytest.mark.parametrize("ending", ENDINGS)
def test_the_demo_exits_and_stops_its_server(
    terminals: list[Terminal], ending: Callable[[Terminal], None]
) -> None:
    terminal, server = demo(terminals)
    ending(terminal)
    assert terminal.exited_within(EXIT_WITHIN_S), f"the demo outlived {ending.__name__}"
    assert terminal.process.returncode == 0
    assert gone_within(server, timeout=5), f"nats-server {server} outlived the demo"


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_dashboard_attached_to_a_fleet_exits(
    terminals: list[Terminal],
    tmp_path: Path,
    nats_server: NatsServer,
    ending: Callable[[Terminal], None],
) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nats"] = {"url": nats_server.url}
    config = tmp_path / "agentdash.yaml"
    config.write_text(yaml.safe_dump(data))
    terminal = Terminal([AGENTDASH, "--config", str(config), "--cluster", "simulated"])
    terminals.append(terminal)
    terminal.wait_for("no leader")  # connected, and drawing what it reads
    ending(terminal)
    assert terminal.exited_within(EXIT_WITHIN_S), f"the dashboard outlived {ending.__name__}"
    assert terminal.process.returncode == 0


STUCK_EXIT = """
import subprocess, threading
from agentdash.tui.leaving import ExitWatchdog

child = subprocess.Popen(["sleep", "600"])
print(child.pid, flush=True)
watchdog = ExitWatchdog(before_leaving=child.kill, grace_s=0.2)
watchdog.ask()
threading.Event().wait()  # stuck for good, as a teardown on a dead terminal was seen to be
"""


def test_an_exit_that_is_stuck_is_ended_after_the_grace_with_its_children() -> None:
    stuck = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(STUCK_EXIT)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert stuck.stdout is not None
        child = int(stuck.stdout.readline())
        assert stuck.wait(timeout=30) == 1  # the orderly stop did not finish: not a success
        assert not alive(child)
    finally:
        stuck.kill()
        stuck.wait()


SIGNAL_TO_ANOTHER_THREAD = """
import signal, sys, threading
from agentdash.tui.leaving import ExitWatchdog

watchdog = ExitWatchdog(grace_s=0.2)
watchdog.catch_signals(lambda sig: None)
# Blocked here, the signal is taken by another thread, as Textual's input thread took it
# (spinning on a standard input at its end) while this one was blocked for good on the
# screen's writes: Python runs a handler on the main thread only, once it runs.
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGHUP])
print("ready", flush=True)
threading.Event().wait()
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_another_thread_takes_still_ends_a_blocked_dashboard(sig: signal.Signals) -> None:
    blocked = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SIGNAL_TO_ANOTHER_THREAD)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert blocked.stdout is not None
        assert blocked.stdout.readline() == "ready\n"
        blocked.send_signal(sig)
        assert blocked.wait(timeout=30) == 1  # the watchdog's exit: the stop did not finish
    finally:
        blocked.kill()
        blocked.wait()


def test_a_dashboard_that_quits_with_an_action_not_yet_written_says_so_and_exits_1(
    terminals: list[Terminal], tmp_path: Path, nats_server: NatsServer
) -> None:
    """A pin taken while NATS was away showed as done on the screen; the dashboard quit
    before NATS was back, exit 0, and the pin had reached no other process: nothing said so."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nats"] = {"url": nats_server.url}
    config = tmp_path / "agentdash.yaml"
    config.write_text(yaml.safe_dump(data))
    terminal = Terminal([AGENTDASH, "--config", str(config), "--cluster", "simulated"])
    terminals.append(terminal)
    terminal.wait_for("no leader")
    nats_server.stop()
    terminal.type("w")
    terminal.wait_for("keep at least N replicas")
    terminal.type("\x153\r")  # ctrl+u: the field's number gone, then 3
    terminal.wait_for("warm replicas until unpinned?")
    terminal.type("y")
    terminal.wait_for("pin acme-research: 3 replicas, by")
    terminal.type("q")
    assert terminal.exited_within(EXIT_WITHIN_S)
    assert terminal.process.returncode == 1
    said = b"agentdash: not done, NATS was away until the dashboard stopped: pin acme-research"
    assert said in terminal.output
