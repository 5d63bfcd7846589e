"""The `agentdash` command as a test runs it: the repository's example files, and the
installed entry point run as a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentdash.cli import main

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "agentdash.yaml"
OBSERVATIONS = ROOT / "examples" / "observations.json"
AGENTDASH = shutil.which("agentdash", path=str(Path(sys.executable).parent)) or "agentdash"


def run(*args: str | Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`agentdash ARGS`, given `stdin` as its standard input (a pipe, never the terminal)."""
    return subprocess.run(
        [AGENTDASH, *map(str, args)],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def simulate(*args: str | Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run("simulate", *args, stdin=stdin)


def tune(*args: str | Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run("tune", *args, stdin=stdin)


def run_without_kube_setup(
    home: Path, *args: str | Path, **environ: str
) -> subprocess.CompletedProcess[str]:
    """`agentdash ARGS` as on a machine with no Kubernetes set up: HOME is `home` (no
    ~/.kube/config unless the test writes one), no $KUBECONFIG and no in-cluster service
    host unless given in `environ`."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **environ}
    return subprocess.run(
        [AGENTDASH, *map(str, args)], capture_output=True, text=True, timeout=120, check=False,
        env=env,
    )  # fmt: skip


def outcome(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int | str | None, str, str]:
    """`agentdash ARGV` run in this process: its exit code, stdout and stderr."""
    try:
        code: int | str | None = main(list(argv))
    except SystemExit as exc:  # argparse exits by itself
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
