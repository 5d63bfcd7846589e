"""Ctrl-C is one line, `agentdash: interrupted`, and exit 130, whenever it comes: while the
program is still loading, or during `agentdash simulate` and `agentdash tune`, whose replays
run in forked worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import AGENTDASH, ROOT
from tests.support.processes import ctrl_c_as_at_a_terminal, gone_within

pytestmark = pytest.mark.e2e

MONTH_S = "2678400"

INTERRUPTED_WHILE_LOADING = """
import builtins, os, signal, sys
imported = builtins.__import__
def importing(name, *args, **kwargs):
    if name == "yaml":  # the config's parser, well into the command's own imports
        os.kill(os.getpid(), signal.SIGINT)
    return imported(name, *args, **kwargs)
builtins.__import__ = importing
from agentdash.entry import main  # what the installed `agentdash` script runs
sys.exit(main(["check-config", sys.argv[1]]))
"""
"""Ctrl-C at a fixed point of start-up: a terminal's comes whenever the user presses it."""


def _cpu_ticks(pid: int) -> int:
    """User and system time the process has run, in clock ticks (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _replaying_workers(pid: int, timeout: float) -> list[int]:
    """The command's worker processes once one has run a while (replaying): a Ctrl-C before
    that would be one at start-up, not during the replay."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        workers = [int(child) for child in found.stdout.split()]
        try:
            if workers and any(_cpu_ticks(w) > 5 for w in workers):
                return workers
        except FileNotFoundError:
            pass  # a worker went away between the listing and the reading
        time.sleep(0.05)  # polling another process's state, with a deadline
    raise AssertionError(f"no worker of {pid} replaying within {timeout} s")


REPLAYS = {
    # One policy is two workers, one replaying and one idle (the lower bound is quick): the
    # idle one is the one that printed a traceback of its own.
    "simulate": ["--policy", "agentdash"],
    "tune": ["--holdout", "0", "--workers", "2"],
}
"""Each command that replays in worker processes, and its own flags for a long replay."""


@pytest.mark.parametrize("command", sorted(REPLAYS))
def test_ctrl_c_stops_a_long_replay_and_its_workers_in_one_line(command: str) -> None:
    """Ctrl-C at a terminal signals the whole process group: the command and its workers."""
    process = subprocess.Popen(
        [AGENTDASH, command, "--config", ROOT / "examples" / "backtest.yaml",
         "--trace", ROOT / "examples" / "trace.jsonl", "--drain", MONTH_S, *REPLAYS[command]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=ctrl_c_as_at_a_terminal,
    )  # fmt: skip
    try:
        workers = _replaying_workers(process.pid, timeout=60)
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert "Traceback" not in err
    assert err == "agentdash: interrupted\n"
    assert all(gone_within(worker, 10) for worker in workers)
    assert out == ""


def test_ctrl_c_while_the_program_loads_is_one_line() -> None:
    """The imports take a second or more on a busy machine: a user who presses Ctrl-C then
    got a page of traceback from inside whatever module was loading."""
    config = ROOT / "examples" / "agentdash.yaml"
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_WHILE_LOADING, str(config)],
        capture_output=True, text=True, timeout=60, check=False,
        preexec_fn=ctrl_c_as_at_a_terminal,
    )  # fmt: skip
    assert result.returncode == 130
    assert result.stderr == "agentdash: interrupted\n"
    assert result.stdout == ""
