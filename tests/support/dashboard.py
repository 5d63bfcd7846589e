"""The dashboard app on the sample fleet, and the keys that reach a pool."""

from __future__ import annotations

from pathlib import Path

from agentdash.tui.app import AgentDashApp
from agentdash.tui.sample import sample_feed

POOLS = ["acme-research", "acme-support", "globex-coder", "globex-triage", "initech-summarize"]


async def make(tmp_path: Path, read_only: bool = False) -> AgentDashApp:
    feed = await sample_feed(overrides=tmp_path / "overrides.json")
    return AgentDashApp(feed, read_only=read_only, refresh_s=None)


def down_to(pool: str) -> list[str]:
    return ["down"] * POOLS.index(pool)
