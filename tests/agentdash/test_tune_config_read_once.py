"""`agentdash tune` reads its --config once, within the input limits, and keeps the text for
its diff: it read the file whole for the diff, with no limit (`--config /dev/zero` until the
memory ran out), then again to load it (a pipe, `<(...)` or named, was empty the second time:
'expected a mapping at the top level', or a wait for a writer that never came)."""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest
import yaml

from controller.core.config import parse_config
from controller.simulate.trace import write_trace
from tests.support.cli import AGENTDASH
from tests.support.pipes import WAIT_S, fed
from tests.support.tuning import WASTEFUL, workload

pytestmark = pytest.mark.e2e

MEMORY = 2 << 30
"""What the tune process may take: far more than it needs, far less than the machine has."""


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def tune(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AGENTDASH, "tune", *map(str, args)], capture_output=True, text=True, check=False,
        timeout=6 * WAIT_S, preexec_fn=limited,
    )  # fmt: skip


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.jsonl"
    with path.open("w") as out:
        write_trace(workload(parse_config(yaml.safe_load(WASTEFUL))), out)
    return path


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_config_without_end_is_one_line(trace: Path) -> None:
    result = tune("--config", "/dev/zero", "--trace", trace)
    assert result.stderr == "agentdash: /dev/zero: expected YAML of at most 4 MiB, got more\n"
    assert result.returncode == 2


def test_a_config_from_a_named_pipe_is_read_once_and_tuned(tmp_path: Path, trace: Path) -> None:
    pipe = tmp_path / "fleet.yaml"
    os.mkfifo(pipe)
    writer = fed(pipe, WASTEFUL.encode())
    result = tune("--config", pipe, "--trace", trace, "--trials", "2", "--holdout", "0")
    writer.join()
    assert result.returncode == 0, result.stderr
    assert f"{pipe}: " in result.stdout.splitlines()[0]
