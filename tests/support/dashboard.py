"""The dashboard app on the sample fleet, and the keys that reach a pool."""

from __future__ import annotations

from pathlib import Path

import yaml
from textual import events
from textual.pilot import Pilot

from agentdash.example import EXAMPLE_CONFIG
from agentdash.tui.app import AgentDashApp
from agentdash.tui.sample import sample_config, sample_feed
from controller.core.config import Config, parse_config

POOLS = ["acme-research", "acme-support", "globex-coder", "globex-triage", "initech-summarize"]


async def make(tmp_path: Path, read_only: bool = False) -> AgentDashApp:
    feed = await sample_feed(overrides=tmp_path / "overrides.json")
    return AgentDashApp(feed, read_only=read_only, refresh_s=None)


async def make_lively(tmp_path: Path, pools: int = 10) -> AgentDashApp:
    """The dashboard on a synthetic sample fleet whose pools follow their lag at once (no
    stabilization): every change of queue moves replicas."""
    feed = await sample_feed(sample_config(pools), overrides=tmp_path / "overrides.json")
    return AgentDashApp(feed, refresh_s=None)


def with_target_wait(seconds: float, tier: str = "enterprise") -> Config:
    """The example fleet, its `tier` with a target_wait_seconds."""
    raw = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    raw["tiers"][tier]["target_wait_seconds"] = seconds
    return parse_config(raw, "the example, with a target wait")


async def make_with_target_wait(tmp_path: Path, seconds: float) -> AgentDashApp:
    """The dashboard on the sample fleet, its enterprise tier with a target wait."""
    config = with_target_wait(seconds)
    feed = await sample_feed(config, overrides=tmp_path / "overrides.json")
    return AgentDashApp(feed, refresh_s=None)


def down_to(pool: str) -> list[str]:
    return ["down"] * POOLS.index(pool)


async def burst(pilot: Pilot[None], *keys: str) -> None:
    """Send `keys` as one burst, as several keys in one SSH packet arrive: every key is
    queued before the app reads the first (Pilot.press waits for the app after each)."""
    app = pilot.app
    assert app._driver is not None
    for key in keys:
        char = key if len(key) == 1 else {"tab": "\t", "backspace": "\x7f", "enter": "\r"}.get(key)
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)
    await pilot.pause()
    await pilot.pause()
