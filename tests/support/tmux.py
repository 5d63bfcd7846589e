"""tmux, to drive and read a dashboard in a real terminal."""

from __future__ import annotations

import atexit
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

# This test process's own tmux server, never the user's. It stays up with no session: a server
# that exits with its last session races the next `new-session`, whose client connects to the
# dying server and fails with "server exited unexpectedly".
SOCKET = Path(tempfile.gettempdir()) / f"agentdash-tests-{os.getpid()}.tmux"
_started = False


def tmux(*args: str) -> subprocess.CompletedProcess[str]:
    global _started
    if not _started:
        _started = True
        _run("start-server", ";", "set-option", "-g", "exit-empty", "off")
        atexit.register(_stop)
    return _run(*args)


def _stop() -> None:
    _run("kill-server")
    SOCKET.unlink(missing_ok=True)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    command = ["tmux", "-S", str(SOCKET), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session).stdout


def environment(**variables: object) -> str:
    """`NAME=value ` for a pane's command: a tmux server keeps the environment it started
    with, so what this test's process has (PYTHONPATH, when a checkout runs from its own
    directory) and what the test sets are said again."""
    given = {"PYTHONPATH": os.environ.get("PYTHONPATH"), **variables}
    if given["PYTHONPATH"]:
        paths = str(given["PYTHONPATH"]).split(os.pathsep)
        given["PYTHONPATH"] = os.pathsep.join(str(Path(path).resolve()) for path in paths)
    return "".join(f"{name}={shlex.quote(str(value))} " for name, value in given.items() if value)
