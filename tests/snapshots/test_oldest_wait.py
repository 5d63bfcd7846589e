"""How long each pool's oldest task has waited for a worker, against its tier's
target_wait_seconds, at 80x24 and at 200x60: Fleet's WAIT column (marked `!` past the target),
Why's and Describe's line, and Tenants' longest wait. The sample fleet, with an enterprise
target of 10 s: acme-support's oldest task has waited longer, acme-research's has not."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agentdash.tui.app import AgentDashApp
from tests.support.dashboard import make_with_target_wait
from tests.support.snapshots import pressing

SIZES = {"80x24": (80, 24), "200x60": (200, 60)}
TARGET_S = 10


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    return SIZES[request.param]


def app(tmp_path: Path) -> AgentDashApp:
    return asyncio.run(make_with_target_wait(tmp_path, TARGET_S))


def test_fleet_wait(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    """Sorted by WAIT, longest first (at 80 columns too: TIER, PIN and RATE/s give way)."""
    assert snap_compare(app(tmp_path), press=["W", "W"], terminal_size=size)


def test_why_wait_over_target(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(app(tmp_path), press=["down", "enter"], terminal_size=size)


def test_describe_wait(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    keys = pressing("down", "i")
    assert snap_compare(app(tmp_path), run_before=keys, terminal_size=size)


def test_tenants_wait(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(app(tmp_path), press=["t"], terminal_size=size)
