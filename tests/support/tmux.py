"""tmux, to drive and read a dashboard in a real terminal."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path


def tmux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False)


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
