"""`x`: pause the selected pool (hold, or to N, for some minutes) and resume it, driven by keys
on the sample fleet's real controller; asked first, Cancel by default, refused read-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from agentdash.tui.fleet import FleetScreen
from agentdash.tui.modals import ConfirmationModal, ReplicasModal
from agentdash.tui.pause import PausePoolModal, parse_pause, pause_question
from agentdash.tui.sample import START, TICKS
from controller.coordination.overrides import OverrideStore
from controller.core.events import ActionEvent
from controller.core.model import PoolPause, QueueStats
from controller.core.wording import plural
from tests.support.dashboard import burst, down_to, make, make_lively


async def test_x_pauses_the_selected_pool_at_a_number_for_some_minutes(tmp_path: Path) -> None:
    app = await make(tmp_path)
    store = app.feed.store
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()  # the first refresh fills the tables
        await pilot.press(*down_to("globex-coder"), "x")
        assert isinstance(app.screen, PausePoolModal)
        await pilot.press("1", "tab", "5", "enter")
        assert isinstance(app.screen, ConfirmationModal)
        assert app.screen.question.startswith("Pause pool globex-coder (scale it to 1) for 5 min?")
        await pilot.press("enter")  # Cancel has the focus: enter alone does nothing
        assert isinstance(app.screen, FleetScreen)
        assert store.current().paused_pools == {}

        await pilot.press("x", "1", "tab", "5", "enter", "tab", "enter")
        assert isinstance(app.screen, FleetScreen)
        now = START + TICKS
        assert store.current().paused_pools == {
            "globex-coder": PoolPause(1, now + 300, "operator", now)
        }
        decisions = {d.pool: d for d in await app.feed.loop.tick()}
        assert decisions["globex-coder"].desired == 1
        assert decisions["globex-coder"].main_reason.rule == "pool paused"
        await app.feed.loop.tick()  # the cluster's answer, read back
        app.refresh_feed()
        (row,) = [p for p in app.feed.snapshot().pools if p.name == "globex-coder"]
        assert (row.state, row.replicas) == ("paused 5m", 1)
        actions = [e for e in app.log_events if isinstance(e, ActionEvent)]
        assert [(a.who, a.action, a.target, a.detail) for a in actions] == [
            ("operator", "pause pool", "globex-coder", "set to 1 for 5 min")
        ]

        await pilot.press("x")  # on a paused pool: resume, asked first
        assert isinstance(app.screen, ConfirmationModal)
        assert app.screen.question == "Resume pool globex-coder? (its queue scales it again)"
        await pilot.press("tab", "enter")
        assert store.current().paused_pools == {}
    restarted = OverrideStore(app.feed.config, tmp_path / "overrides.json")
    assert restarted.current().paused_pools == {}


async def test_x_with_blank_replicas_holds_the_pool_where_it_is(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        (row,) = [p for p in app.feed.snapshot().pools if p.name == "acme-research"]
        await pilot.press("x", "enter")
        assert isinstance(app.screen, ConfirmationModal)
        held = plural(row.replicas, "replica")
        question = f"Pause pool acme-research (hold it at {held}) until resumed?"
        assert app.screen.question.startswith(question)
        await pilot.press("tab", "enter")
        assert app.feed.store.current().paused_pools["acme-research"].replicas == row.replicas


async def test_a_hold_keeps_the_number_confirmed_even_if_the_pool_moved_meanwhile(
    tmp_path: Path,
) -> None:
    app = await make_lively(tmp_path)
    loop = app.feed.loop
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        (row,) = [p for p in app.feed.snapshot().pools if p.name == "pool-0000"]
        await pilot.press("x", "enter")  # "hold it at N replicas"
        assert f"hold it at {plural(row.replicas, 'replica')}" in app.screen.question  # type: ignore[attr-defined]
        busy = {p: QueueStats(300, 20, 5.0) for p in loop.config.pools}
        loop.lag.lag = busy  # type: ignore[attr-defined]
        await loop.tick()  # the pool scales while the operator reads the question
        (moved,) = [p for p in loop.snapshot().pools if p.name == "pool-0000"]
        assert moved.desired != row.replicas
        await pilot.press("tab", "enter")
        (decision,) = [d for d in await loop.tick() if d.pool == "pool-0000"]
        assert decision.desired == row.replicas


async def test_keys_sent_in_one_burst_land_in_the_fields_they_were_typed_for(
    tmp_path: Path,
) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("x")
        await burst(pilot, "3", "tab", "2")
        assert isinstance(app.screen, PausePoolModal)
        fields = [app.screen.query_one(f"#{f}", Input).value for f in ("replicas", "minutes")]
        assert fields == ["3", "2"]
        await burst(pilot, "shift+tab", "backspace", "1", "tab", "backspace", "7")
        fields = [app.screen.query_one(f"#{f}", Input).value for f in ("replicas", "minutes")]
        assert fields == ["1", "7"]
        await burst(pilot, "enter")
        assert isinstance(app.screen, ConfirmationModal)
        assert app.screen.question.startswith("Pause pool acme-research (scale it to 1) for 7 min?")
        await pilot.press("escape", "w")  # the pin dialog: replicas, minutes
        await burst(pilot, "3", "tab", "2")
        fields = [app.screen.query_one(f"#{f}", Input).value for f in ("replicas", "minutes")]
        assert fields[1] == "2"
        assert fields[0].endswith("3")


async def test_no_more_than_the_pools_max_replicas_can_be_asked_for(tmp_path: Path) -> None:
    app = await make(tmp_path)
    limit = app.feed.config.pools["acme-research"].max_replicas
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        for key, least in (("x", 0), ("w", 1)):  # a pause may scale to 0; a pin of 0 pins nothing
            await pilot.press(key, *str(limit + 1), "enter")  # typed over what the field shows
            assert isinstance(app.screen, ReplicasModal)
            error = str(app.screen.query_one("#error").render())
            assert f"a whole number from {least} to {limit}" in error
            await pilot.press("escape")


async def test_a_pin_of_no_replicas_is_refused_in_the_dialog(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("w", "backspace", "backspace", "0", "enter")
        assert isinstance(app.screen, ReplicasModal)  # still asking
        error = str(app.screen.query_one("#error").render())
        assert "0 keeps nothing warm" in error


async def test_a_pin_of_more_minutes_than_a_year_is_refused_saying_how_many_may_be_given(
    tmp_path: Path,
) -> None:
    """99,999,999 minutes was refused as "minutes > 0", which it is."""
    app = await make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("w", "tab", *"99999999", "enter")
        assert isinstance(app.screen, ReplicasModal)  # still asking
        error = str(app.screen.query_one("#error").render())
        assert "up to 365 d (a year)" in error


async def test_a_bad_pause_is_refused_in_the_dialog_and_read_only_refuses_x(
    tmp_path: Path,
) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("x", "tab", "0", "enter")  # 0 minutes
        assert isinstance(app.screen, PausePoolModal)
        assert "minutes: blank (no end), or from 1 s up to 365 d (a year)" in str(
            app.screen.query_one("#error").render()
        )
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)
    read_only = await make(tmp_path, read_only=True)
    async with read_only.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("x")
        assert isinstance(read_only.screen, FleetScreen)
        read_only.run_operator_action("pause_pool")  # what a palette entry would call
        assert read_only.feed.store.current().paused_pools == {}


@pytest.mark.parametrize(
    ("replicas", "minutes", "choice"),
    [("", "", (None, None)), (" 3 ", "1.5", (3, 90.0)), ("0", "", (0, None)),
     ("-1", "", None), ("two", "", None), ("", "-5", None), ("", "nan", None),
     ("8", "", (8, None)), ("9", "", None),
     # only what the confirmation can show as typed: ASCII digits, at least a second
     ("\u0663", "", None), ("1_0", "", None), ("", "1e-300", None), ("", "\u0663", None)],
)  # fmt: skip
def test_the_fields_read_as_a_choice_or_are_refused(
    replicas: str, minutes: str, choice: tuple[int | None, float | None] | None
) -> None:
    assert parse_pause(replicas, minutes, limit=8) == choice


def test_the_question_says_what_will_happen() -> None:
    assert pause_question("a", 3, (None, None)) == (
        "Pause pool a (hold it at 3 replicas) until resumed? Its queue keeps every task."
    )
    assert pause_question("a", 3, (0, 600.0)).startswith("Pause pool a (scale it to 0) for 10 min?")
    assert " for 1,440 min (1 d)?" in pause_question("a", 3, (0, 86400.0))


def test_holding_one_replica_is_said_in_the_singular() -> None:
    assert pause_question("p", 1, (None, None)) == (
        "Pause pool p (hold it at 1 replica) until resumed? Its queue keeps every task."
    )
