"""Snapshot tests build the app from the deterministic sample fleet (fixed clock, seeded
data, no refresh timer, no cursor blink)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentdash.tui.app import AgentDashApp
from agentdash.tui.sample import sample_feed
from tests.support.snapshots import AppFactory


@pytest.fixture
def make_app(tmp_path: Path) -> AppFactory:
    def make(read_only: bool = False) -> AgentDashApp:
        feed = asyncio.run(sample_feed(overrides=tmp_path / "overrides.json"))
        return AgentDashApp(feed, read_only=read_only, refresh_s=None)

    return make
