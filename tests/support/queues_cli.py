"""`agentdash queues` as a test runs it: a real process, and how to read what it printed."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from tests.support.cli import AGENTDASH


def queues(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AGENTDASH, "queues", "--config", str(config), *args],
        capture_output=True, text=True, timeout=60, check=False,
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
