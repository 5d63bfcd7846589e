"""Standard output that cannot be written: a full disk is one line and exit 1, a reader that
went away (`| head`) is nothing at all. Real processes, real /dev/full, real pipes."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.cli import AGENTDASH, EXAMPLE, ROOT
from tests.support.mistakes import BASE

pytestmark = pytest.mark.e2e

FULL = Path("/dev/full")
KEDA = ROOT / "tests" / "data" / "keda" / "nats-jetstream.yaml"
AZURE = ROOT / "benchmarks" / "traces" / "AzureLLMInferenceTrace_code.csv"
COMMANDS = {
    "plan": ["plan"],
    "example": ["example", "trace"],
    "schema": ["check-config", "--schema"],
    "check-config": ["check-config", str(EXAMPLE)],
    "simulate": ["simulate", "--policy", "keda"],
    "generate": ["simulate", "--generate", "bursty", "--hours", "1"],
    "rbac": ["rbac", "--config", str(EXAMPLE)],
    "import-keda": ["import", "keda", str(KEDA)],
    "import-requests": ["import", "requests", str(AZURE), "--pool", "coder"],
    "version": ["--version"],
}


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full here")
@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_full_disk_is_one_line_and_exit_1(args: list[str]) -> None:
    with FULL.open("w") as full:
        result = subprocess.run(
            [AGENTDASH, *args], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1:] == [
        "agentdash: cannot write the output: No space left on device"
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full here")
def test_an_import_a_full_disk_refused_says_only_that(tmp_path: Path) -> None:
    """A log small enough to wait in the output's buffer was said ('1 request (azure) as pool
    coder's tasks') before the buffer was written, as if the trace had been."""
    log = tmp_path / "azure.csv"
    log.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,374,44\n")
    with FULL.open("w") as full:
        result = subprocess.run(
            [AGENTDASH, "import", "requests", str(log), "--pool", "coder"],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == "agentdash: cannot write the output: No space left on device\n"


@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_standard_output_closed_from_the_start_is_one_line_and_exit_1(args: list[str]) -> None:
    """`agentdash ... >&-`: Python starts with no sys.stdout at all, and the first print was
    an AttributeError's traceback."""
    result = subprocess.run(
        [AGENTDASH, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        timeout=120, preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1:] == [
        "agentdash: cannot write the output: standard output is closed"
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["example", "trace"], COMMANDS["generate"]], ids=str)
def test_a_reader_that_goes_away_is_not_an_error(args: list[str]) -> None:
    """More than a pipe holds (the trace is 280 kB), so the command is still writing when
    the reader closes its end after the first line, as `| head -1` does."""
    process = subprocess.Popen(
        [AGENTDASH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stderr is not None
    assert process.stdout.readline().startswith('{"t": ')
    process.stdout.close()
    assert process.wait(timeout=60) == 0
    assert process.stderr.read() == ""


def test_check_config_into_head_ends_quietly(tmp_path: Path) -> None:
    """A summary longer than the pipe holds, read by `head -1`: no BrokenPipeError."""
    data = copy.deepcopy(BASE)
    template = data["pools"]["acme-research"]
    for i in range(1000):
        data["pools"][f"p{i}"] = {
            **copy.deepcopy(template),
            "deployment": {"namespace": "agents", "name": f"p{i}"},
            "queue": {"stream": "AGENT_TASKS", "consumer": f"p{i}"},
        }
    big = tmp_path / "big.yaml"
    big.write_text(yaml.safe_dump(data))
    result = subprocess.run(f"'{AGENTDASH}' check-config '{big}' | head -1", shell=True,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.stdout.startswith(f"{big}: OK: 1,005 pools")
    assert result.stdout.count("\n") == 1
    assert result.stderr == ""


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full here")
def test_a_demo_events_file_on_a_full_disk_is_one_line_after_the_run() -> None:
    """The demo writes --events as it runs: a write that failed there killed the fleet's
    event watcher, and the stop that awaited it ended in a traceback, the summary unsaid."""
    result = subprocess.run(
        [AGENTDASH, "demo", "--headless", "--duration", "2", "--events", str(FULL)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"agentdash: {FULL}: cannot write file: No space left on device"
    ]
    assert result.returncode == 2
    assert "published " in result.stdout.splitlines()[-1]  # the run's summary, said
