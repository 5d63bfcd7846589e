"""What STATE says, at 80x24 and at 200x60: a paused pool, a paused controller (and Why naming
the pause), dry-run (Fleet and Events), pins with their time left, and the pause-pool dialog.
Starved and held are the sample fleet as it is: test_screens.py's test_fleet."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentdash.tui.app import AgentDashApp
from agentdash.tui.live import header_text
from agentdash.tui.sample import sample_feed
from controller.coordination.overrides import OverrideStore
from controller.core.events import ActionEvent

SIZES = {"80x24": (80, 24), "200x60": (200, 60)}


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    return SIZES[request.param]


Act = Callable[[OverrideStore], list[ActionEvent]]


def app_after(tmp_path: Path, act: Act | None = None) -> AgentDashApp:
    """The sample fleet; then the operator's actions (announced, as the app does) and one
    more tick, if any."""

    async def build() -> AgentDashApp:
        feed = await sample_feed(overrides=tmp_path / "overrides.json")
        if act is not None:
            for event in act(feed.store):
                feed.announce(event)
            await feed.loop.tick()
        return AgentDashApp(feed, refresh_s=None)

    return asyncio.run(build())


def test_paused_pools(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    def pause(store: OverrideStore) -> list[ActionEvent]:
        return [store.pause_pool("globex-coder", 1, 600),
                store.pause_pool("acme-research", None, None)]  # fmt: skip

    assert snap_compare(app_after(tmp_path, pause), terminal_size=size)


def test_paused_controller(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = app_after(tmp_path, lambda store: [store.pause_controller()])
    assert snap_compare(app, terminal_size=size)


def test_paused_controller_why(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = app_after(tmp_path, lambda store: [store.pause_controller()])
    assert snap_compare(app, press=["enter"], terminal_size=size)


def test_paused_controller_in_dry_run(
    snap_compare: Any, tmp_path: Path, size: tuple[int, int]
) -> None:
    """Paused and in dry-run: the header says both, at 80 columns too (dry-run outlasts the
    pause, so a header that said only `paused` would hide it)."""

    def pause_in_dry_run(store: OverrideStore) -> list[ActionEvent]:
        return [store.pause_controller(), store.set_dry_run(True)]

    app = app_after(tmp_path, pause_in_dry_run)
    assert snap_compare(app, terminal_size=size)
    snapshot = app.feed.snapshot()
    assert snapshot.state == "paused, dry-run"
    header = header_text(snapshot, read_only=False, width=size[0] - 2)
    assert "paused, dry-run" in header.plain
    assert header.cell_len <= size[0] - 2, header.plain


def test_dry_run(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = app_after(
        tmp_path, lambda store: [store.set_dry_run(True), store.pin("globex-triage", 4)]
    )
    assert snap_compare(app, terminal_size=size)


def test_dry_run_events(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    def dry_run_and_pin(store: OverrideStore) -> list[ActionEvent]:
        return [store.set_dry_run(True), store.pin("globex-triage", 4)]  # would go 2 -> 4

    app = app_after(tmp_path, dry_run_and_pin)
    assert snap_compare(app, press=["e"], terminal_size=size)


def test_pins_with_time_left(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    def pin(store: OverrideStore) -> list[ActionEvent]:
        return [store.pin("initech-summarize", 6, 600), store.pin("acme-support", 6, 90),
                store.pin("globex-triage", 3)]  # fmt: skip

    assert snap_compare(app_after(tmp_path, pin), terminal_size=size)


def test_pause_pool_dialog(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(app_after(tmp_path), press=["down", "x"], terminal_size=size)


def test_attention(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    """`!`: what needs attention (dry-run, a budget running out) and every override in force,
    with who set it and when."""

    def act(store: OverrideStore) -> list[ActionEvent]:
        return [store.pin("acme-research", 3, None), store.pause_tenant("initech"),
                store.pause_pool("globex-coder", 1, 600), store.set_dry_run(True)]  # fmt: skip

    assert snap_compare(app_after(tmp_path, act), press=["exclamation_mark"], terminal_size=size)


def test_attention_count_in_the_header(
    snap_compare: Any, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = app_after(tmp_path, lambda store: [store.pause_controller()])
    assert snap_compare(app, terminal_size=size)
