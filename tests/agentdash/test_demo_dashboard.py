"""The interactive demo in a real terminal (tmux): its exit summary, its --events file, what
it keeps from one run to the next (nothing, unless --overrides says so), and a closed
terminal."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentdash.nats_server import NatsServer
from tests.support import free_port
from tests.support.cli import AGENTDASH
from tests.support.processes import alive, descendants, gone_within, store_of
from tests.support.tmux import environment, screen, tmux

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


def start(session: str, *flags: str, state: Path | None = None) -> None:
    """The demo dashboard in a 120x36 terminal, run from a shell as a user runs it: the shell
    stays after the demo exits, with its output and exit status on screen. (A pane whose only
    process exits can lose the last lines it wrote: tmux may mark it dead before reading them.)
    `state`: its XDG_STATE_HOME (a tmux server keeps the environment it started with)."""
    demo = f"{AGENTDASH} demo --cold-start 0.5 --speed 4 {' '.join(flags)}"
    demo = environment(XDG_STATE_HOME=state) + demo
    command = f"{demo}; echo demo exited $?; sleep 600"
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


def test_a_nats_url_that_cannot_be_reached_is_one_line_and_exit_1(session: str) -> None:
    """As headless says it: the screen goes, and the reason stays, not a silent exit 0."""
    url = f"nats://127.0.0.1:{free_port()}"
    start(session, "--nats-url", url)
    wait_for_screen(session, "demo exited", timeout=30)
    text = screen(session)
    assert f"agentdash: cannot reach NATS at {url}: Connection refused" in text, text
    assert "demo exited 1" in text
    assert "Traceback" not in text


def test_quitting_while_nats_is_down_stops_in_order_within_the_grace(
    session: str, nats_server: NatsServer
) -> None:
    """Workers still retrying their acks and the wait for NATS to come back fit in the exit's
    grace together: the screen restored, the summary printed, exit 0, not the watchdog's 1."""
    start(session, "--nats-url", nats_server.url)
    wait_for_screen(session, r"acme-research +[1-9]\d* → ")  # a burst: workers hold tasks
    nats_server.stop()
    wait_for_screen(session, "NATS disconnected")
    time.sleep(2)  # the outage itself: workers finish tasks they cannot ack meanwhile
    tmux("send-keys", "-t", session, "q")
    found = wait_for_screen(session, r"demo exited (\d+)", timeout=30)
    text = screen(session)
    assert found.group(1) == "0", text
    assert "(not checked: NATS unreachable), lost 0" in text


def test_its_own_server_killed_is_said_started_again_and_followed(session: str) -> None:
    """kill -9 of the embedded nats-server: a notice says what happened, the server comes back
    on its port and store, the header's STALE goes, and q still stops it all."""
    start(session)
    wait_for_screen(session, "→")
    pid = server_of(session)
    os.kill(pid, signal.SIGKILL)
    # A toast, wrapped: a line of it may start with its border.
    wait_for_screen(session, rf"nats-server[\s▌]+\(pid[\s▌]+{pid}\)[\s▌]+was[\s▌]+killed")
    wait_for_screen(session, r"queued[\s▌]+tasks[\s▌]+are[\s▌]+kept")
    deadline = time.monotonic() + 30
    while "STALE" in screen(session):  # the demo's clients are back on the new server
        assert time.monotonic() < deadline, screen(session)
        time.sleep(0.2)  # polling another process's screen, with a deadline
    again = server_of(session)
    assert again != pid
    tmux("send-keys", "-t", session, "q")
    found = wait_for_screen(session, r"demo exited (\d+)", timeout=30)
    assert found.group(1) == "0", screen(session)
    assert "lost 0" in screen(session)
    assert not alive(again)


def quit_demo(session: str) -> None:
    tmux("send-keys", "-t", session, "q")
    wait_for_screen(session, "demo exited 0", timeout=30)
    tmux("kill-session", "-t", session)


def test_a_pause_in_one_demo_is_gone_in_the_next(session: str, tmp_path: Path) -> None:
    start(session, state=tmp_path)
    wait_for_screen(session, "→")
    tmux("send-keys", "-t", session, "s")  # the selected pool's tenant: acme
    wait_for_screen(session, "Pause tenant acme")
    tmux("send-keys", "-t", session, "Tab", "Enter")
    wait_for_screen(session, "pause tenant acme by")
    quit_demo(session)

    start(session, state=tmp_path)
    wait_for_screen(session, "→")
    assert "paused" not in screen(session)  # it came up in dry-run, a tenant paused, unsaid
    quit_demo(session)


def test_what_overrides_keeps_is_said_and_events_are_written(session: str, tmp_path: Path) -> None:
    overrides, events = tmp_path / "overrides.json", tmp_path / "events.jsonl"
    overrides.write_text(json.dumps({"paused_tenants": ["initech"], "dry_run": False}))
    start(session, "--overrides", str(overrides), "--events", str(events))
    # A toast, wrapped where the file's path ends: a line of it may start with its border.
    wait_for_screen(session, "Overrides kept from")
    assert re.search(r"pause[\s▌]+tenant[\s▌]+initech", screen(session))
    wait_for_screen(session, "→")
    quit_demo(session)
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    summary = lines[-1]
    assert summary["type"] == "summary"
    assert summary["scale_events"] == sum(line["type"] == "scale" for line in lines) > 0


def test_what_overrides_keeps_is_said_as_text_never_as_markup_or_escapes(
    session: str, tmp_path: Path
) -> None:
    # The file's path and the names it holds that the config does not have are the notice's
    # words: a folder named `a[/b]` stopped the dashboard with a MarkupError (and left the
    # process running), and a name holding an escape sequence reached the terminal raw.
    folder = tmp_path / "a[" / "b]"
    folder.mkdir(parents=True)
    overrides = folder / "overrides.json"
    hostile = "\x1b]2;pwned\x07\x1b[2J[@click=app.quit]x[/]"
    overrides.write_text(json.dumps({"paused_tenants": ["initech", hostile]}))
    start(session, "--overrides", shlex.quote(str(overrides)))
    wait_for_screen(session, "Overrides kept from")
    wait_for_screen(session, "→")
    text = screen(session)
    assert "MarkupError" not in text
    assert re.search(r"\\x1b\]2;pwned\\x07\\x1b\[2J\[@click=app\.quit\]x\[/\]", _unwrapped(text))
    title = tmux("display-message", "-p", "-t", session, "#{pane_title}").stdout
    assert "pwned" not in title
    quit_demo(session)


def _unwrapped(text: str) -> str:
    """A toast's text with its lines joined: it wraps where it may, with a border each line."""
    lines = [line.split("▌", 1)[1].strip() for line in text.splitlines() if "▌" in line]
    return "".join(lines)


def test_a_closed_terminal_stops_the_dashboard_and_its_server(session: str, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    start(session, "--events", str(events))
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
    # after an SSH session drops, the file is all there is: it ends with the summary
    summary = json.loads(events.read_text().splitlines()[-1])
    assert (summary["type"], summary["lost"]) == ("summary", 0)
