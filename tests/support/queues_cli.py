"""`agentdash queues` as a test runs it: a real process, and how to read what it printed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.cli import AGENTDASH

DEADLINE_S = 60.0
"""A run's bound: one that hangs fails the test here (TimeoutExpired), not the session."""

WAITING = (
    "import sys; import agentdash.queues as q; q.REQUEST_TIMEOUT_S = float(sys.argv.pop(1)); "
    "from agentdash.entry import main; sys.exit(main())"
)
"""`agentdash queues`, its requests waiting the seconds of its first argument for an answer."""


def queues(
    config: Path, *args: str, request_wait: float | None = None
) -> subprocess.CompletedProcess[str]:
    """`agentdash queues --config CONFIG ARGS`. `request_wait`: how long each request waits
    for its answer instead of 5 s; longer than DEADLINE_S, a run that ends did not wait."""
    command = [AGENTDASH]
    if request_wait is not None:
        command = [sys.executable, "-c", WAITING, f"{request_wait:g}"]
    return subprocess.run(
        [*command, "queues", "--config", str(config), *args],
        capture_output=True, text=True, timeout=DEADLINE_S, check=False,
    )  # fmt: skip


async def run_queues(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """In a thread: the test's own NATS client stays served meanwhile."""
    return await asyncio.to_thread(queues, config, *args)


def state(stdout: str, label: str) -> str:
    """What the command said of one stream or consumer (`missing`, `created`, ...)."""
    (line,) = [line for line in stdout.splitlines() if line.startswith(f"{label}: ")]
    return line.removeprefix(f"{label}: ")


def consumer(pool: str) -> str:
    return f"consumer AGENT_TASKS/{pool} (pool {pool})"


ONE_STREAM = "AGENT_TASKS"
"""The stream of `in_one_stream`'s configs."""


def in_one_stream(config: Path) -> Path:
    """`config` rewritten with every pool's tasks in ONE_STREAM, as an install whose producers
    trust each other may keep them (check-config warns of it): one stream, five consumers."""
    data = yaml.safe_load(config.read_text())
    for pool in data["pools"].values():
        pool["queue"]["stream"] = ONE_STREAM
    config.write_text(yaml.safe_dump(data))
    return config
