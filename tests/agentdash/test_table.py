"""The dashboard's table: rows by key, the cursor that stays on its row, k9s keys, sorting,
and columns that give way by priority on a narrow terminal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Input

from agentdash.tui.app import AgentDashApp
from agentdash.tui.columns import Column, layout, sort_value
from agentdash.tui.modals import ConfirmationModal
from agentdash.tui.sample import sample_feed
from agentdash.tui.table import KeyedTable
from tests.support import eventually
from tests.support.dashboard import make_with_target_wait, screen_lines

KEYS = [f"pod-{i:03d}" for i in range(100)]


class TableApp(App[None]):
    def __init__(self, columns: list[Column] | None = None, *, newest_first: bool = False) -> None:
        super().__init__()
        self.columns = columns or [Column("NAME", 10), Column("N", 3)]
        self.newest_first = newest_first
        self.chosen: list[str] = []

    def compose(self) -> ComposeResult:
        yield KeyedTable(self.columns, newest_first=self.newest_first)
        yield Input()

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        self.chosen.append(event.row_key.value or "")


def drawn(table: KeyedTable) -> list[str]:
    """The table's lines as the terminal shows them."""
    return [table.render_line(y).text.rstrip() for y in range(table.size.height)]


def shows(table: KeyedTable, text: str) -> Callable[[], bool]:
    """Whether the table draws `text` on a line now (to poll until it does)."""
    return lambda: any(text in line for line in drawn(table))


async def test_the_cursor_stays_on_its_row_when_rows_come_and_go() -> None:
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(KeyedTable)
        table.sync([(k, (k, "1")) for k in "abcd"])
        table.select("c")
        await pilot.pause()
        table.sync([(k, (k, "2")) for k in "bcde"])  # a went, e came, every count changed
        assert (table.selected, table.cursor_row) == ("c", 1)
        table.sync([(k, (k, "3")) for k in "xbcde"])  # a row above it
        assert (table.selected, table.cursor_row) == ("c", 2)
        assert table.get_row("c") == ["c", "3"]
        await pilot.pause()
        assert drawn(table)[3] == " c           3"


async def test_many_rows_leaving_at_once_keep_order_and_cursor() -> None:
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(KeyedTable)
        table.sync([(k, (k, "1")) for k in KEYS])
        table.select("pod-061")
        await pilot.pause()
        survivors = [*KEYS[1::2], "pod-100"]  # half go at once, one comes
        table.sync([(k, (k, "1")) for k in survivors])
        await pilot.pause()
        assert table.keys == survivors
        assert table.row_count == 51
        assert table.selected == "pod-061"
        assert any(line.startswith(" pod-061") for line in drawn(table))  # still in view


async def test_when_the_selected_row_goes_the_cursor_takes_the_next() -> None:
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(KeyedTable)
        table.sync([(k, (k, "1")) for k in "abcd"])
        table.select("b")
        table.sync([(k, (k, "1")) for k in "acd"])
        assert table.selected == "c"
        table.sync([(k, (k, "1")) for k in "a"])
        assert table.selected == "a"
        table.sync([])
        assert table.selected is None
        await pilot.pause()
        assert drawn(table)[0].split() == ["NAME", "N"]


async def test_k9s_keys_move_the_cursor_and_keep_it_in_view() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(KeyedTable)
        table.focus()
        table.sync([(k, (k, "1")) for k in KEYS])
        await pilot.pause()
        await pilot.press("j", "j", "down", "k")
        assert table.selected == "pod-002"
        await pilot.press("G")
        assert table.selected == "pod-099"
        assert drawn(table)[-1].startswith(" pod-099")
        await pilot.press("g")
        assert table.selected == "pod-000"
        assert drawn(table)[1].startswith(" pod-000")
        await pilot.press("end")
        assert table.selected == "pod-099"
        await pilot.press("home", "pagedown")
        page = table.size.height - 2
        assert table.selected == KEYS[page]
        assert any(line.startswith(f" {KEYS[page]}") for line in drawn(table))
        await pilot.press("pagedown", "pageup")
        assert table.selected == KEYS[page]
        await pilot.press("up", "up")
        assert table.selected == KEYS[page - 2]


async def test_enter_on_a_row_says_which_row() -> None:
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(KeyedTable)
        table.focus()
        table.sync([(k, (k, "1")) for k in "abc"])
        await pilot.press("j", "enter")
        await pilot.pause()
        assert app.chosen == ["b"]


async def test_shift_letter_sorts_again_reverses_and_survives_updates() -> None:
    columns = [Column("NAME", 8, sort="N"), Column("LAG", 4), Column("AGE", 5)]
    app = TableApp(columns)
    async with app.run_test() as pilot:
        table = app.query_one(KeyedTable)
        table.focus()
        rows = [("b", ("b", "12", "90s")), ("a", ("a", "9", "2m")), ("c", ("c", "100", "5s"))]
        table.sync(rows)
        table.select("b")
        await pilot.press("L")
        assert table.keys == ["a", "b", "c"]  # 9 < 12 < 100, as numbers
        assert table.selected == "b"
        assert drawn(table)[0].split() == ["NAME", "LAG▲", "AGE"]
        await pilot.press("L")
        assert table.keys == ["c", "b", "a"]
        assert drawn(table)[0].split() == ["NAME", "LAG▼", "AGE"]
        await pilot.press("A")
        assert table.keys == ["c", "b", "a"]  # 5s < 90s < 2m
        # New rows arrive in the caller's order; the sort and the cursor's row hold.
        table.sync([*rows, ("d", ("d", "0", "1s"))])
        assert table.keys == ["d", "c", "b", "a"]
        assert table.selected == "b"
        await pilot.press("N", "N")
        assert table.keys == ["d", "c", "b", "a"]
        assert table.sort == ("NAME", True)


async def test_S_and_G_are_never_sort_keys() -> None:
    columns = [Column("GROUP", 8), Column("STATE", 8)]
    app = TableApp(columns)
    async with app.run_test() as pilot:
        table = app.query_one(KeyedTable)
        table.focus()
        table.sync([("x", ("b", "z")), ("y", ("a", "y"))])
        await pilot.press("G")
        assert (table.sort, table.selected) == (None, "y")  # G: last row
        await pilot.press("R")  # GROUP's first free letter
        assert table.keys == ["y", "x"]
        await pilot.press("T")  # STATE's
        assert table.keys == ["y", "x"]
        assert table.sort == ("STATE", False)


def test_narrow_tables_shrink_then_drop_the_lowest_priority_and_flex_takes_the_rest() -> None:
    columns = [Column("NAME", 18, priority=9, min_width=12), Column("TIER", 10, priority=1),
               Column("PIN", 3, priority=2),
               Column("WHY", None, priority=8, min_width=14)]  # fmt: skip

    def widths(width: int) -> dict[str, int]:
        return {column.label: cells for column, cells in layout(columns, width)}

    assert widths(200) == {"NAME": 18, "TIER": 10, "PIN": 3, "WHY": 161}
    # Each column takes 2 cells of padding. At 50 all fit with NAME short of 3 cells;
    assert widths(50) == {"NAME": 15, "TIER": 10, "PIN": 3, "WHY": 14}
    # under 47 TIER goes (the lowest priority), under 35 PIN, and NAME grows back first.
    assert widths(45) == {"NAME": 18, "PIN": 3, "WHY": 18}
    assert widths(34) == {"NAME": 16, "WHY": 14}
    assert widths(10) == {"NAME": 12}


def test_values_sort_as_people_read_them() -> None:
    values = ["2m", "90s", "1h05m", "-", "pool-10", "pool-9", "1.2M", "950k", "3/4/3", "10/1/1"]
    assert sorted(values, key=sort_value) == [
        "90s", "2m", "1h05m", "950k", "1.2M", "3/4/3", "10/1/1", "-", "pool-9", "pool-10"
    ]  # fmt: skip


async def test_fleet_columns_give_way_by_priority_and_the_pin_folds_into_state_at_80(
    tmp_path: Path,
) -> None:
    feed = await sample_feed(overrides=tmp_path / "overrides.json")
    feed.store.pin("globex-coder", 3, None)  # below its demand: STATE does not say it
    feed.store.pin("acme-support", 6, None)  # holds it: STATE says "pinned"
    await feed.loop.tick()
    for size, shown in (
        ((200, 40), ["POOL", "TENANT", "TIER", "LAG", "WAIT", "TREND", "RATE/s", "REPLICAS",
                     "PIN", "STATE"]),
        ((95, 24), ["POOL", "TENANT", "LAG", "WAIT", "TREND", "RATE/s", "REPLICAS", "PIN",
                    "STATE"]),
        ((90, 24), ["POOL", "TENANT", "LAG", "WAIT", "TREND", "RATE/s", "REPLICAS", "STATE"]),
        # At 80 TIER, PIN (folded into STATE) and RATE/s have given way: WAIT stays.
        ((80, 24), ["POOL", "TENANT", "LAG", "WAIT", "TREND", "REPLICAS", "STATE"]),
        ((60, 24), ["POOL", "TENANT", "LAG", "REPLICAS", "STATE"]),
    ):  # fmt: skip
        app = AgentDashApp(feed, refresh_s=None)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            table = app.screen.query_one("#pools", KeyedTable)
            # The rows are laid out a refresh after the columns: on a busy machine, later
            # than one pause.
            await eventually(shows(table, "globex-coder"))
            assert table.columns_shown == shown
            assert drawn(table)[0].split() == shown
            header, *lines = drawn(table)
            line = next(line for line in lines if "globex-coder" in line)
            if "PIN" in shown:
                at = header.index("PIN")
                assert line[at : at + 3] == "3  "
                assert "pin 3" not in line
            else:
                assert line.endswith(", pin 3")
                held = next(line for line in lines if "acme-support" in line)
                assert held.split()[-1] == "pinned"  # not "pinned, pin 6", which gets cut


async def test_wait_shows_how_long_each_oldest_task_has_waited_marked_past_its_tiers_target(
    tmp_path: Path,
) -> None:
    app = await make_with_target_wait(tmp_path, 10)  # the enterprise tier: acme's pools
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#pools", KeyedTable)
        header, *lines = drawn(table)
        at = header.index("WAIT")
        shown = {line.split()[0]: line[at : at + 6].strip() for line in lines if line.strip()}
        assert app._feed is not None
        rows = {row.name: row for row in app._feed.loop.snapshot().pools}
        assert shown["acme-support"] == f"{int(rows['acme-support'].oldest_wait_s or 0)}s!"
        assert rows["acme-support"].over_target
        assert shown["acme-research"] == f"{int(rows['acme-research'].oldest_wait_s or 0)}s"
        assert not rows["acme-research"].over_target  # within its 10 s
        assert shown["globex-coder"].endswith("s")  # its tier sets no target: never marked
        assert shown["initech-summarize"] == "-"  # nothing waits
        await pilot.press("W", "W")  # longest first
        assert table.keys[0] == max(rows, key=lambda name: rows[name].oldest_wait_s or -1)


async def test_the_sort_arrow_shows_even_where_the_label_fills_its_column(tmp_path: Path) -> None:
    feed = await sample_feed(overrides=tmp_path / "overrides.json")
    app = AgentDashApp(feed, refresh_s=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#pools", KeyedTable)
        letter = next(k for k, label in table._sort_keys.items() if label == "REPLICAS")
        await pilot.press(letter)
        await pilot.pause()
        assert table.sort == ("REPLICAS", False)
        assert "REPLICA▲" in drawn(table)[0]


async def test_pod_ages_move_on_while_the_pods_stay_the_same(tmp_path: Path) -> None:
    feed = await sample_feed(overrides=tmp_path / "overrides.json")
    app = AgentDashApp(feed, refresh_s=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("p")
        await pilot.pause()
        table = app.screen.query_one("#pods", KeyedTable)
        first = drawn(table)[1]
        feed.loop.clock.now += 120  # type: ignore[attr-defined]
        app.refresh_feed()
        await pilot.pause()
        later = drawn(table)[1]
        assert first.split()[:3] == later.split()[:3]  # the same pod
        assert first.split()[3].endswith("s")
        assert later.split()[3] == "2m"


async def test_a_click_selects_a_row_and_a_second_click_opens_it() -> None:
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(KeyedTable)
        table.sync([(k, (k, "1")) for k in "abc"])
        await pilot.pause()
        await pilot.click(KeyedTable, offset=(2, 3))  # the header, then a, b, c
        assert (table.selected, app.chosen) == ("c", [])
        await pilot.click(KeyedTable, offset=(2, 3))
        await pilot.pause()
        assert app.chosen == ["c"]
        await pilot.click(KeyedTable, offset=(2, 0))  # the header selects nothing
        assert table.selected == "c"


async def test_on_the_fleet_S_still_pauses_all_and_G_goes_to_the_last_pool(tmp_path: Path) -> None:
    feed = await sample_feed(overrides=tmp_path / "overrides.json")
    app = AgentDashApp(feed, refresh_s=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#pools", KeyedTable)
        await pilot.press("G")
        assert table.selected == "initech-summarize"
        await pilot.press("S")
        assert isinstance(app.screen, ConfirmationModal)
        assert table.sort is None


def events_up_to(n: int, kept: int = 50) -> list[tuple[str, tuple[str, str]]]:
    """The newest `kept` of events 1..n, newest first, as a scale-event list shows them."""
    return [(f"e{i}", (f"e{i}", "1")) for i in range(n, max(0, n - kept), -1)]


async def test_a_newest_first_list_keeps_the_newest_in_view_as_events_come() -> None:
    app = TableApp(newest_first=True)
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(KeyedTable)
        for n in range(1, 120):  # far more than the 50 kept
            table.sync(events_up_to(n))
            await pilot.pause()
            assert table.selected == f"e{n}"
            assert drawn(table)[1].startswith(f" e{n} ")
        assert table.unseen == 0
        assert "new" not in drawn(table)[0]


async def test_off_the_newest_the_cursor_stays_and_the_header_counts_what_came() -> None:
    app = TableApp(newest_first=True)
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(KeyedTable)
        table.focus()
        table.sync(events_up_to(10))
        await pilot.press("j", "j")  # the operator reads e8
        for n in (11, 12, 13):
            table.sync(events_up_to(n))
        await pilot.pause()
        assert table.selected == "e8"
        assert "↑ 3 new (g)" in drawn(table)[0]
        await pilot.press("g")  # back to the newest: following again
        assert (table.selected, table.unseen) == ("e13", 0)
        table.sync(events_up_to(14))
        await pilot.pause()
        assert table.selected == "e14"
        assert "new" not in drawn(table)[0]


async def test_when_the_event_read_leaves_the_list_the_newest_is_followed_again() -> None:
    app = TableApp(newest_first=True)
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync(events_up_to(60))
        table.select("e20")
        for n in range(61, 75):  # e20 falls out of the 50 kept at e70
            table.sync(events_up_to(n))
        await pilot.pause()
        assert (table.selected, table.cursor_row) == ("e74", 0)
        assert drawn(table)[1].startswith(" e74 ")


async def test_a_table_with_a_scroll_bar_cuts_its_cells_before_the_bar_with_an_ellipsis() -> None:
    """More rows than fit bring a scroll bar over the table's last columns: a cut WHY still
    ends in an ellipsis, and the header's "↑ N new (g)" is whole, on the screen itself."""
    columns = [Column("NAME", 6), Column("WHY", None, priority=0)]
    app = TableApp(columns, newest_first=True)
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(KeyedTable)
        table.focus()
        rows = [(f"e{i}", (f"e{i}", "stabilization: " + "x" * 60)) for i in range(30, 0, -1)]
        table.sync(rows)
        await pilot.press("j")
        table.sync([("e31", ("e31", "new")), *rows])
        await pilot.pause()
        shown = screen_lines(app)
        assert shown[0].rstrip().endswith("↑ 1 new (g)")
        assert all(line[:38].rstrip().endswith("…") for line in shown[2:5]), shown


async def test_a_column_given_way_on_a_narrow_terminal_is_not_sorted_by_unseen() -> None:
    """At 80 columns Fleet drops RATE/s: its letter R sorted the pools by it, with no arrow
    anywhere to say so. A letter sorts only by a column the operator can see."""
    columns = [Column("NAME", 10, priority=9), Column("RATE", 6, priority=1), Column("N", 4)]
    app = TableApp(columns)
    async with app.run_test(size=(20, 8)) as pilot:
        table = app.query_one(KeyedTable)
        table.focus()
        table.sync([("x", ("b", "1", "2")), ("y", ("a", "2", "1"))])
        await pilot.pause()
        assert table.columns_shown == ["NAME", "N"]
        await pilot.press("R")
        assert (table.sort, table.keys) == (None, ["x", "y"])
        await pilot.press("N")
        assert table.sort == ("NAME", False)
