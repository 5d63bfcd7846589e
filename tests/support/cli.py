"""The `agentdash` command as a test runs it: the repository's example files, and the
installed entry point run as a real process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "agentdash.yaml"
OBSERVATIONS = ROOT / "examples" / "observations.json"
AGENTDASH = shutil.which("agentdash", path=str(Path(sys.executable).parent)) or "agentdash"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AGENTDASH, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def simulate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run("simulate", *args)


def tune(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run("tune", *args)
