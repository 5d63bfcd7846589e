"""The dashboard's keys and screens as an on-call operator uses them at 80x24: every key,
the footer, the help, drill-downs, describe, detail panes, and dialogs over live screens.
Each test drives the app with keys over the sample fleet's real controller."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from textual.command import CommandList, CommandPalette
from textual.containers import VerticalScroll
from textual.widgets import Static

from agentdash.tui.app import AgentDashApp
from agentdash.tui.attention_view import AttentionScreen
from agentdash.tui.describe import DescribeScreen, PodScreen
from agentdash.tui.events_view import EventsScreen
from agentdash.tui.fleet import FleetScreen, pool_detail
from agentdash.tui.modals import ConfirmationModal, HelpScreen, bindings_of
from agentdash.tui.pods import PodsScreen
from agentdash.tui.sample import START, TICKS
from agentdash.tui.table import KeyedTable
from agentdash.tui.tenants import TenantsScreen
from agentdash.tui.timeline_plot import TimelinePlot
from agentdash.tui.why import WhyScreen, explain
from controller.core.config import PoolConfig
from controller.core.events import ScaleEvent
from controller.core.model import QueueStats, Reason
from tests.support import eventually
from tests.support.dashboard import POOLS, down_to, make, notes, screen_lines
from tests.support.records import replaced

SMALL = (80, 24)


def shown(widget: Static, width: int = 200) -> str:
    """The text a widget shows, as a person would read it (wide: no wrapping to undo)."""
    return shown_text(widget.content, width)


def shown_text(text: object, width: int = 200) -> str:
    console = Console(width=width, file=io.StringIO(), record=True)
    console.print(text)
    return console.export_text()


def age_line(app: AgentDashApp) -> str:
    """The age a pod's page shows."""
    text = shown(app.screen.query_one("#pod", Static))
    return next(line.strip() for line in text.splitlines() if line.strip().startswith("age"))


async def test_the_footer_keeps_help_and_quit_on_every_screen_at_80_columns(
    tmp_path: Path,
) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        # fleet, why, describe, pods, a pod, tenants, events
        for keys in ([], ["enter"], ["i"], ["p"], ["p", "enter"], ["t"], ["e"]):
            await pilot.press("f", *keys)
            await pilot.pause()
            footer = screen_lines(app)[-1].lstrip()
            # What Enter does on the focused table comes first (its table's binding), then
            # help and quit.
            after_enter = re.sub(r"^⏎ [A-Za-z ]+?  ", "", footer)
            assert after_enter.startswith("? Help  q Quit"), (keys, footer)


async def test_ctrl_p_and_colon_both_open_the_palette(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        for key, name, screen in (("ctrl+p", "Tenants", TenantsScreen),
                                  ("colon", "Events", EventsScreen)):  # fmt: skip
            await pilot.press(key)
            assert isinstance(app.screen, CommandPalette), key
            await pilot.press(*name)
            await eventually(lambda: app.screen.query_one(CommandList).option_count > 0)
            await pilot.press("enter")
            await eventually(lambda s=screen: isinstance(app.screen, s))  # type: ignore[misc]


async def test_the_palette_has_no_second_help_beside_question_mark(tmp_path: Path) -> None:
    """Its Keys opened Textual's own keys panel: a second help, 30 columns wide, which took
    the header's numbers at 80 columns and which esc did not close."""
    app = await make(tmp_path)
    async with app.run_test(size=(80, 40)) as pilot:
        await pilot.pause()
        textuals = [command.title for command in app.get_system_commands(app.screen)]
        assert "Keys" not in textuals
        assert {"Theme", "Screenshot", "Quit"} <= set(textuals)
        await pilot.press("colon", *"screensh")
        await eventually(lambda: "Save an SVG" in "\n".join(screen_lines(app)))
        await pilot.press(*["backspace"] * 8, *"keys")
        # The palette says so once its half-second countdown ends; ended by the app's exit
        # instead, the countdown looks for a list already gone.
        await eventually(lambda: "No matches found" in "\n".join(screen_lines(app)))
        assert "Show help for the focused widget" not in "\n".join(screen_lines(app))


async def test_the_palette_opens_the_attention_screen(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("colon", *"atten")
        await eventually(lambda: app.screen.query_one(CommandList).option_count > 0)
        await pilot.press("enter")
        await eventually(lambda: isinstance(app.screen, AttentionScreen))


async def test_attention_shows_the_selected_flag_in_full_and_enter_opens_its_target(
    tmp_path: Path,
) -> None:
    app = await make(tmp_path)
    app.feed.store.set_dry_run(True)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("exclamation_mark")
        await eventually(lambda: isinstance(app.screen, AttentionScreen))
        detail = app.screen.query_one("#detail", Static)
        await eventually(lambda: "controller: dry-run" in shown(detail))
        await pilot.press("enter")  # the controller: no pool to explain
        await eventually(lambda: any("no pool to explain" in note for note in notes(app)))
        await pilot.press("down")  # globex's budget: cut at 80 columns in the table, whole here
        await eventually(lambda: "globex: runs out in" in shown(detail))
        assert "tokens" in shown(detail)
        await pilot.press("enter")  # a tenant: its pools
        await eventually(lambda: isinstance(app.screen, FleetScreen))
        pools = app.screen.query_one("#pools", KeyedTable)
        await eventually(lambda: pools.keys != [])
        assert all(pool.startswith("globex") for pool in pools.keys)


async def test_a_filter_that_matches_no_pool_says_so(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"umbrella")
        detail = app.screen.query_one("#detail", Static)
        await eventually(lambda: "No pool matches 'umbrella' (esc clears" in shown(detail))
        await pilot.press("escape")
        await eventually(lambda: "No pool matches" not in shown(detail))


async def test_the_fleet_and_events_filters_match_whatever_the_case(tmp_path: Path) -> None:
    """`ACME` matched no pool on Fleet, while `SCALE` matched on Events."""
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"ACME", "enter")
        pools = app.screen.query_one("#pools", KeyedTable)
        await eventually(lambda: pools.keys == ["acme-research", "acme-support"])
        app.screen.filter_tenant("Globex")  # type: ignore[attr-defined]
        app.refresh_feed()  # as Enter on the Tenants screen does
        await eventually(lambda: pools.keys == ["globex-coder", "globex-triage"])
        await pilot.press("e", "slash", *"SCALE", "enter")
        events = app.screen.query_one("#events", KeyedTable)
        await eventually(lambda: events.row_count > 0)


async def test_escape_on_events_clears_its_filter_first_then_goes_back(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("e", "slash", *"zzz", "enter")
        events = app.screen.query_one("#events", KeyedTable)
        await eventually(lambda: events.row_count == 0)
        await pilot.press("escape")
        await eventually(lambda: events.row_count > 0)
        assert isinstance(app.screen, EventsScreen)
        await pilot.press("escape")
        await eventually(lambda: isinstance(app.screen, FleetScreen))


async def test_help_lists_every_key_of_every_screen(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = shown(app.screen.query_one("#help", Static))
        screens = (AgentDashApp, FleetScreen, WhyScreen, DescribeScreen, PodsScreen, PodScreen,
                   TenantsScreen, EventsScreen, KeyedTable)  # fmt: skip
        for cls in screens:
            for binding in bindings_of(cls, only_ours=cls is not KeyedTable):
                assert (binding.tooltip or binding.description) in text, binding
                assert app.get_key_display(binding) in text, binding
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)


async def test_help_shows_every_key_name_whole_on_a_narrow_terminal(tmp_path: Path) -> None:
    """At 60 columns its two columns were squeezed and `shift+tab` read `shift+t…`: there it
    lists the keys in one column, and goes back to two when the terminal widens."""
    app = await make(tmp_path)
    async with app.run_test(size=(60, 60)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        lines = screen_lines(app)
        assert any("shift+tab  Focus Previous" in line for line in lines)
        assert not any("…" in line for line in lines)
        await pilot.resize_terminal(80, 60)
        await pilot.pause()
        assert any("Focus Next" in line and "shift+tab" in line for line in screen_lines(app))


async def test_help_scrolls_with_j_and_k_as_the_tables_do(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        body = app.screen.query_one("#help-body", VerticalScroll)
        assert body.max_scroll_y > 0  # longer than the screen: there is something to scroll
        await pilot.press("j", "j", "j")
        assert body.scroll_y == 3
        await pilot.press("k")
        assert body.scroll_y == 2
        assert isinstance(app.screen, HelpScreen)


async def test_help_says_once_what_ctrl_c_does(tmp_path: Path) -> None:
    """Ctrl-C quits, and copies instead while text is selected: one line, not a "Copy selected
    text" line from Textual's screens beside the quit in Textual's words for its ctrl+q."""
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        text = shown(app.screen.query_one("#help", Static))
        said = [line.split() for line in text.splitlines() if "^c" in line.split()]
        assert len(said) == 1, said
        assert said[0][:4] == ["q", "^c", "^q", "Quit"]
        assert "copies selected text instead" in " ".join(said[0])
        assert "Quit the app" not in text


async def test_enter_on_a_tenant_shows_its_pools_and_escape_shows_all(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("t", "down", "enter")  # globex
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)
        table = app.screen.query_one("#pools", KeyedTable)
        assert table.keys == ["globex-coder", "globex-triage"]
        assert "tenant:globex" in "\n".join(screen_lines(app))
        recent = app.screen.query_one("#recent", KeyedTable)
        pools = {recent.get_row(key)[1] for key in recent.keys}
        assert pools == {"globex-coder", "globex-triage"}  # the recent events follow
        await pilot.press("escape")
        await pilot.pause()
        assert table.keys == POOLS


async def test_enter_on_a_pod_shows_it_until_and_after_it_is_gone(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press(*down_to("globex-triage"), "p", "enter")
        assert isinstance(app.screen, PodScreen)
        pod = app.screen.pod
        await pilot.pause()
        text = " ".join(shown(app.screen.query_one("#pod", Static)).split())
        assert pod.pool == "globex-triage"
        for value in ("globex-triage (tenant globex)", "Running", "ready yes", pod.task or "none"):
            assert value in text
        assert pod.name in shown(app.screen.query_one("#title", Static))

        # The pool goes to 0: the pod is marked gone, its last state kept on screen.
        app.feed.loop.lag.lag = {p: QueueStats(0, 0) for p in POOLS}  # type: ignore[attr-defined]
        app.feed.loop.clock.now += 600  # type: ignore[attr-defined]  # past every window
        for _ in range(3):
            await app.feed.loop.tick()
            app.feed.loop.clock.now += 60  # type: ignore[attr-defined]
        app.refresh_feed()
        assert "gone at" in shown(app.screen.query_one("#title", Static))
        assert "globex-triage (tenant globex)" in shown(app.screen.query_one("#pod", Static))
        # Its age stops where it was last seen, however long the page stays open.
        age_when_gone = age_line(app)
        assert "when last seen" in age_when_gone
        app.feed.loop.clock.now += 3600  # type: ignore[attr-defined]
        await app.feed.loop.tick()
        app.refresh_feed()
        assert age_line(app) == age_when_gone
        await pilot.press("escape")
        assert isinstance(app.screen, PodsScreen)


async def test_enter_on_an_event_explains_its_pool(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("e", "enter")  # the newest event: acme-research's scale
        assert isinstance(app.screen, WhyScreen)
        assert app.screen.pool == "acme-research"
        await pilot.press("escape")
        assert isinstance(app.screen, EventsScreen)

        # A tenant's pause is about no one pool: it says so and stays.
        app.feed.announce(app.feed.store.pause_tenant("globex"))
        app.refresh_feed()
        await pilot.press("up", "enter")  # the selection stayed on its row: up to the newest
        assert isinstance(app.screen, EventsScreen)
        assert any("not about a pool" in n for n in notes(app))


async def test_the_detail_panes_show_what_the_columns_cut(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        fleet = app.screen
        last = [e for e in app.log_events if isinstance(e, ScaleEvent)][-1]
        reasons = [f"{r.rule}: {r.detail}" if not r.detail.startswith(r.rule.split()[0])
                   else r.detail for r in last.reasons]  # fmt: skip
        assert any(len(r) > 40 for r in reasons)  # more than the WHY column holds at 80

        # The selected pool: its state, why, and its last scale event.
        await pilot.press(*down_to(last.pool))
        detail = shown(fleet.query_one("#detail", Static))
        assert last.pool in detail
        assert f"Last scale 00:00:{last.ts - START:02.0f}: {last.old} → {last.new}" in detail
        assert reasons[-1] in detail

        # The recent events' table focused: the selected event with every reason.
        await pilot.press("tab")
        detail = shown(fleet.query_one("#detail", Static))
        assert all(r in detail for r in reasons), detail

        await pilot.press("e")
        events_detail = app.screen.query_one("#detail", Static)
        # Events fills its tables after its first refresh
        await eventually(lambda: all(r in shown(events_detail) for r in reasons))


async def test_describe_shows_config_deployment_decisions_and_pins(tmp_path: Path) -> None:
    app = await make(tmp_path)
    app.feed.store.pin("globex-coder", 3, 600)
    async with app.run_test(size=(120, 60)) as pilot:
        await pilot.pause()
        await pilot.press(*down_to("globex-coder"), "i")
        assert isinstance(app.screen, DescribeScreen)
        await pilot.pause()
        page = [
            shown(app.screen.query_one(f"#{part}", Static)) for part in ("describe", "decisions")
        ]
        text = " ".join(" ".join(page).split())
        cfg = app.feed.config.pools["globex-coder"]
        row = next(p for p in app.feed.snapshot().pools if p.name == "globex-coder")
        assert f"tenant globex (tier {row.tier})" in text
        assert f"min {cfg.min_replicas}, max {cfg.max_replicas}" in text
        assert f"deployment {cfg.deployment}" in text
        assert f"{cfg.target_lag_per_replica:g} per replica" in text
        assert f"stabilization {cfg.behavior.scale_down.stabilization_seconds:g} s" in text
        assert f"{row.replicas} now, {row.desired} desired, {row.ready} ready" in text
        assert f"at least 3 replicas until 00:10:{TICKS} UTC (10m left), by operator" in text
        assert row.decision is not None
        assert row.decision.main_reason.detail in text
        events = [e for e in app.log_events if isinstance(e, ScaleEvent)]
        first = next(e for e in events if e.pool == "globex-coder")
        assert f"{first.old} → {first.new}" in text
        plot = app.screen.query_one(TimelinePlot)
        assert plot.size.height > 0  # the timeline, between the pins and the decisions

        await pilot.press("enter")  # and from describe, why
        assert isinstance(app.screen, WhyScreen)
        await pilot.press("i", "enter", "i")  # back and forth: not piled up
        assert isinstance(app.screen, DescribeScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)
        await pilot.press("enter", "i")  # from why
        assert isinstance(app.screen, DescribeScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, WhyScreen)
        await pilot.press("p", "i")  # from the pods of a pool
        assert isinstance(app.screen, DescribeScreen)
        assert app.screen.pool == "globex-coder"
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, FleetScreen)


async def test_the_tenants_screen_acts_on_the_selected_tenant(tmp_path: Path) -> None:
    app = await make(tmp_path)
    store = app.feed.store
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("t", "down", "down", "s")  # initech
        assert isinstance(app.screen, ConfirmationModal)
        assert "Pause tenant initech?" in app.screen.question
        await pilot.press("tab", "enter")
        assert store.current().paused_tenants == {"initech"}
        decisions = {d.pool: d for d in await app.feed.loop.tick()}
        assert decisions["initech-summarize"].desired == 0

        for key in ("w", "u", "i"):  # pool actions: nothing happens, and it says what to do
            await pilot.press(key)
            assert isinstance(app.screen, TenantsScreen)
            assert "enter lists this tenant's pools" in notes(app)[-1]
        await pilot.press("s")
        assert "Resume tenant initech?" in app.screen.question
        await pilot.press("tab", "enter")
        assert store.current().paused_tenants == frozenset()


async def test_read_only_keys_say_they_are_refused(tmp_path: Path) -> None:
    app = await make(tmp_path, read_only=True)
    async with app.run_test(size=(200, 24)) as pilot:
        await pilot.pause()
        footer = screen_lines(app)[-1]
        assert "Pin" not in footer
        assert "Pause" not in footer
        for key in ("w", "u", "s", "S", "d"):
            count = len(notes(app))
            await pilot.press(key)
            assert isinstance(app.screen, FleetScreen), key
            assert notes(app)[count:] == ["Refused: agentdash runs --read-only"], key
        await pilot.press("t", "s")
        assert notes(app)[-1] == "Refused: agentdash runs --read-only"
        assert "Pause" not in screen_lines(app)[-1]
    assert store_untouched(app)


def store_untouched(app: AgentDashApp) -> bool:
    current = app.feed.store.current()
    return not (current.pins or current.paused_tenants or current.paused or current.dry_run)


async def test_the_screen_under_a_dialog_keeps_updating(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        fleet = app.screen
        await pilot.press(*down_to("globex-coder"), "w")  # the pin dialog, left open
        assert not isinstance(app.screen, FleetScreen)
        assert "00:00:30 UTC" in shown(fleet.query_one("#summary", Static))
        app.feed.loop.lag.lag = {p: QueueStats(40, 0) for p in POOLS}  # type: ignore[attr-defined]
        await app.feed.loop.tick()
        app.feed.loop.clock.now += 1  # type: ignore[attr-defined]
        await app.feed.loop.tick()
        app.refresh_feed()
        assert "00:00:31 UTC" in shown(fleet.query_one("#summary", Static))
        # and the pool's pane follows the newest decision, which the operator is weighing
        row = next(p for p in app.feed.snapshot().pools if p.name == "globex-coder")
        assert shown(fleet.query_one("#detail", Static)) == shown_text(
            pool_detail(row, app.log_events)
        )


async def test_the_resume_dialog_says_what_resuming_does(tmp_path: Path) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press("S")
        assert isinstance(app.screen, ConfirmationModal)
        assert "replicas stay where they are until resumed" in app.screen.question
        await pilot.press("tab", "enter")
        assert app.feed.store.current().paused
        await pilot.press("S")
        assert isinstance(app.screen, ConfirmationModal)
        question = app.screen.question
        assert question.startswith("Resume the controller?")
        assert "scales to its demand again" in question
        assert "held" not in question


async def test_a_screen_opened_between_refreshes_is_drawn_full_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every screen opens with what the last refresh saw, not an empty frame until the next
    refresh (half a second later in a dashboard): here no refresh ever comes again."""
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        monkeypatch.setattr(app, "refresh_feed", lambda: None)
        for keys, shows in (
            (["enter"], "Main reason: "),
            (["i"], "Deployment agents/acme-research"),
            (["e"], "acme-research       2 → 5"),
            (["p"], "acme-research-00020"),
            (["p", "enter"], "task           t012337"),
            (["t"], "globex     growth"),
        ):
            await pilot.press("f", *keys)
            await pilot.pause()
            assert any(shows in line for line in screen_lines(app)), (keys, screen_lines(app))


async def test_why_files_the_keep_alive_and_the_landing_under_time(tmp_path: Path) -> None:
    app = await make(tmp_path)
    snapshot = app.feed.snapshot()
    row = next(p for p in snapshot.pools if p.name == "globex-coder")
    assert row.decision is not None
    kept = Reason(rule="keep-alive", template="{} replicas idle: hold {:.0f} s", args=(6, 67.0))
    landed = Reason(rule="landing", template="lands on {} and {} more: {} -> {}", args=(4, 1, 8, 5))
    decision = replaced(row.decision, reasons=(kept, landed))
    text = shown_text(explain(app.feed.config, dataclasses.replace(row, decision=decision),
                              snapshot))  # fmt: skip
    steps = text.split("6. time")
    assert len(steps) == 2
    assert "keep-alive: 6 replicas idle: hold 67 s" in steps[1]
    assert "landing: lands on 4 and 1 more: 8 -> 5" in steps[1]
    assert "room enough" in steps[0]  # nothing bound under the ceilings


async def test_why_says_a_pin_is_not_in_force_while_its_pool_or_tenant_is_paused(
    tmp_path: Path,
) -> None:
    """Fleet showed PIN 3 on a pool of a paused tenant, at 0; its Why's floor said only the
    pause, as if the pin were kept or not there."""
    app = await make(tmp_path)
    snapshot = app.feed.snapshot()
    row = next(p for p in snapshot.pools if p.name == "globex-coder")
    assert row.decision is not None
    for rule, detail, why in (
        ("paused", "tenant globex paused by an operator: 0 replicas", "its tenant is paused"),
        ("pool paused", "paused by alice: holding 2 replicas", "the pool is paused"),
    ):
        decision = replaced(row.decision, reasons=(Reason(rule=rule, template=detail),))
        pinned = dataclasses.replace(row, decision=decision, pin=3)
        floor = shown_text(explain(app.feed.config, pinned, snapshot)).split("3. floor")[1]
        assert f"pin: 3 replicas, not in force while {why}" in floor.split("4. budget")[0]
    unpinned = dataclasses.replace(row, decision=decision, pin=None)
    assert "not in force" not in shown_text(explain(app.feed.config, unpinned, snapshot))


async def test_why_names_the_time_rules_the_pool_is_on(tmp_path: Path) -> None:
    app = await make(tmp_path)
    snapshot = app.feed.snapshot()
    row = next(p for p in snapshot.pools if p.name == "globex-coder")
    config = app.feed.config
    fixed = shown_text(explain(config, row, snapshot))
    assert "cooldown 15 s, stabilization" in fixed
    pools = dict(config.pools)
    spec = pools["globex-coder"].model_dump(exclude={"cooldown_seconds", "behavior"})
    spec["keep_alive"] = {"wait_weight": 2.0}
    pools["globex-coder"] = PoolConfig.model_validate(spec)
    learning = config.model_copy(update={"pools": pools})
    text = shown_text(explain(learning, row, snapshot))
    assert "learned keep-alive (a second of waiting weighs 2 s of an idle pod)" in text
    assert "cooldown" not in text.split("6. time")[1]


# The pause-tenant question is a dialog; so is the pin dialog, whose field copies what is
# selected (it opens with its value selected, for typing over) and with nothing selected
# quits: there, ctrl+c did nothing.
@pytest.mark.parametrize(
    "keys", [[], ["p"], ["t"], ["e"], ["question_mark"], ["s"], ["w", "backspace"]]
)
async def test_ctrl_c_quits_from_any_screen_and_dialog(tmp_path: Path, keys: list[str]) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
        await pilot.press("ctrl+c")
        await eventually(lambda: not app.is_running)


async def test_tenants_never_rounds_a_budget_not_spent_up_to_100_nor_says_a_held_one_runs_out(
    tmp_path: Path,
) -> None:
    app = await make(tmp_path)
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.press("t")
        snapshot = app.feed.snapshot()
        tenants = tuple(
            dataclasses.replace(
                t,
                tokens_today=4_993_441,
                budget=5_000_000,
                burn_per_min=1_220_000.0,
                held=t.name == "globex",
            )
            for t in snapshot.tenants
        )
        assert isinstance(app.screen, TenantsScreen)
        app.screen.show(dataclasses.replace(snapshot, tenants=tenants), [])
        await pilot.pause()
        rows = {line.split()[0]: line.split() for line in screen_lines(app) if line.strip()}
    assert rows["globex"][rows["globex"].index("99%") + 2] == "held"  # USED, BURN/m, LEFT
    assert "100%" not in rows["globex"]
    assert "0s" not in rows["globex"]
    assert "0s" in rows["acme"]  # burning: 6,559 tokens at 1.22M a minute
