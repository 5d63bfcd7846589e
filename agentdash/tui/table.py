"""A table that draws only the rows on screen, keeps its cursor on a row by key, and sorts.

`sync(rows)` takes every row in display order, as (key, cells). It keeps the list as it is and
draws only the lines in view, so 20,000 pods cost what the 50 on screen cost; a line whose
cells did not change is not drawn again. The cursor stays on the row the operator selected,
by key, however many rows come and go around it.

A table of the newest first (`newest_first`: scale events) follows the newest row while its
cursor is on the top one: what just happened is never pushed out of view. Once the operator
moves down, the cursor stays on the row chosen, and the header counts the rows that came
above it ("↑ 3 new"), until the operator goes back to the top (Home or g), or the row chosen
leaves the list.

Columns have a priority: when the table is too narrow for all of them, the lowest priority go
first (a column may fold its value into another as it goes, e.g. PIN into STATE) and a flexible
column (width None) takes the room left (agentdash.tui.columns). Keys, as in k9s: j/k, g/G,
Home/End, page up/down, Enter, and shift+letter to sort by a column (again to reverse).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets.data_table import RowKey

from agentdash.tui.columns import Column, ColumnSpec, as_column, layout, sort_letters, sort_value
from agentdash.tui.table_draw import draw_line, header_labels

Row = tuple[str, tuple[Any, ...]]


class KeyedTable(ScrollView, can_focus=True, inherit_bindings=False):
    # Not the scroll view's keys: the table moves its cursor, and never scrolls sideways.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keyed-table--header",
        "keyed-table--cursor",
        "keyed-table--even-row",
        "keyed-table--odd-row",
    }
    DEFAULT_CSS = """
    KeyedTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        overflow-x: hidden;
        &:focus {
            background-tint: $foreground 5%;
            & > .keyed-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .keyed-table--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .keyed-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .keyed-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .keyed-table--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .keyed-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    # The messages keep DataTable's handler names (on_data_table_row_selected...) and fields,
    # so a screen written for a DataTable takes them unchanged.
    class RowHighlighted(Message, namespace="data_table"):
        """The cursor moved to another row."""

        def __init__(self, table: KeyedTable, cursor_row: int, key: str) -> None:
            super().__init__()
            self.data_table = table
            self.cursor_row = cursor_row
            self.row_key = RowKey(key)

        @property
        def control(self) -> KeyedTable:
            return self.data_table

    class RowSelected(RowHighlighted, namespace="data_table"):
        """Enter (or a click) on the cursor's row."""

    def __init__(
        self,
        columns: Sequence[ColumnSpec],
        *,
        newest_first: bool = False,
        enter: str | None = None,
        **kwargs: Any,
    ) -> None:
        """`enter`: what Enter on a row does, said in the footer (the table's own Enter
        binding, focused, hides a screen's)."""
        super().__init__(**kwargs)
        if enter is not None:
            self._bindings.key_to_bindings["enter"] = [
                Binding("enter", "select_cursor", enter, show=True)
            ]
        self.newest_first = newest_first
        self.unseen = 0
        """Rows that came above the cursor since the operator moved off the newest."""
        self._rows: list[Row] = []
        self._unsorted: Sequence[Row] = []
        self.cursor_row = 0
        self._sort: tuple[str, bool] | None = None  # label, reversed
        self._lines: dict[str, tuple[tuple[Any, ...], Style, Strip]] = {}
        self._highlighted: str | None = None
        self.set_columns(columns)

    # The screens' API

    def set_columns(self, columns: Sequence[ColumnSpec]) -> None:
        self._columns = [as_column(c) for c in columns]
        self._sort_keys = sort_letters(self._columns)
        self._layout: list[tuple[Column, int]] = []
        self._layout_width = 0  # the width self._layout was made for
        self._lines.clear()
        self.refresh()

    @property
    def selected(self) -> str | None:
        if not self._rows:
            return None
        return self._rows[min(self.cursor_row, len(self._rows) - 1)][0]

    def select(self, key: str) -> None:
        index = self._index_of(key)
        if index is not None:
            self._move(index)

    def sync(self, rows: Sequence[Row]) -> None:
        """Show `rows` (in display order, unless the operator sorted by a column)."""
        selected = self.selected
        # Only a newest-first table counts the rows that came (a 20,000-pod table need not).
        before = {key for key, _ in self._rows} if self.newest_first else set()
        if any(c.render is not None for c in self._columns):
            self._lines.clear()  # what a raw value looks like may change with time (an age)
        self._unsorted = rows
        self._rows = self._sorted(rows)
        if len(self._rows) + 1 != self.virtual_size.height:
            self.virtual_size = Size(self.size.width, len(self._rows) + 1)
        index = None if selected is None else self._index_of(selected)
        if self.newest_first and self._sort is None and (self.cursor_row == 0 or index is None):
            self._move(0)  # on the newest, or the row chosen is gone: follow the newest
        elif index is None:
            # A row that went leaves the cursor where it was, on the row that took its place.
            self._move(min(self.cursor_row, max(0, len(self._rows) - 1)))
        else:
            if self.newest_first:
                self.unseen += sum(1 for key, _ in self._rows[:index] if key not in before)
            self._move(index)
        self.refresh()

    def get_row(self, key: str) -> list[Any]:
        index = self._index_of(key)
        if index is None:
            raise KeyError(key)
        return list(self._rows[index][1])

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def keys(self) -> list[str]:
        """The row keys in the order shown."""
        return [key for key, _ in self._rows]

    def column_width(self, label: str) -> int | None:
        """The width a column asks for (None: flexible, or no such column)."""
        return next((c.width for c in self._columns if c.label == label), None)

    @property
    def columns_shown(self) -> list[str]:
        return [column.label for column, _ in self._columns_in(self._width)]

    # Sorting

    @property
    def sort(self) -> tuple[str, bool] | None:
        """The column the rows are sorted by and whether in reverse, or None: as given."""
        return self._sort

    def sort_by(self, label: str) -> None:
        """Sort by a column; the same column again reverses the order."""
        reverse = self._sort is not None and self._sort == (label, False)
        self._sort = (label, reverse)
        self.sync(self._unsorted)

    def _sorted(self, rows: Sequence[Row]) -> list[Row]:
        if self._sort is None:
            return list(rows)
        label, reverse = self._sort
        index = next((i for i, c in enumerate(self._columns) if c.label == label), None)
        if index is None:
            return list(rows)
        order = self._columns[index].sort_value or sort_value
        return sorted(rows, key=lambda row: order(row[1][index]), reverse=reverse)

    def on_key(self, event: events.Key) -> None:
        label = self._sort_keys.get(event.character or "")
        if label is None or label not in self.columns_shown:
            return  # a column given way on a narrow terminal has no header for the arrow
        if event.character and event.character.isupper():
            event.stop()
            event.prevent_default()
            self.sort_by(label)

    # The cursor

    def _index_of(self, key: str) -> int | None:
        return next((i for i, (k, _) in enumerate(self._rows) if k == key), None)

    def _move(self, index: int) -> None:
        if not self._rows:
            self.cursor_row = 0
            return
        index = max(0, min(index, len(self._rows) - 1))
        if index == 0 and self.unseen:
            self.unseen = 0
            self.refresh()
        if index != self.cursor_row:
            self.cursor_row = index
            self.refresh()
        self._scroll_to_cursor()
        key = self._rows[index][0]
        if key != self._highlighted:
            self._highlighted = key
            self.post_message(self.RowHighlighted(self, index, key))

    def _scroll_to_cursor(self) -> None:
        rows_in_view = max(1, self.size.height - 1)
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + rows_in_view:
            self.scroll_to(y=self.cursor_row - rows_in_view + 1, animate=False)

    def action_cursor_up(self) -> None:
        self._move(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self._move(self.cursor_row + 1)

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(len(self._rows) - 1)

    def action_page_up(self) -> None:
        self._move(self.cursor_row - max(1, self.size.height - 2))

    def action_page_down(self) -> None:
        self._move(self.cursor_row + max(1, self.size.height - 2))

    def action_select_cursor(self) -> None:
        if self._rows:
            self.post_message(
                self.RowSelected(self, self.cursor_row, self._rows[self.cursor_row][0])
            )

    def on_click(self, event: events.Click) -> None:
        index = round(self.scroll_y) + event.y - 1
        if event.y == 0 or index >= len(self._rows):
            return
        if index == self.cursor_row:
            self.action_select_cursor()
        self._move(index)

    # Drawing

    def _columns_in(self, width: int) -> list[tuple[Column, int]]:
        if not self._layout or self._layout_width != width:
            self._layout, self._layout_width = layout(self._columns, width), width
            self._lines.clear()
        return self._layout

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._rows) + 1)
        self._scroll_to_cursor()

    @property
    def _width(self) -> int:
        """The cells a line may fill: a scroll bar, once there are more rows than fit, is drawn
        over the widget's last columns, and would hide a cut cell's ellipsis."""
        return self.scrollable_content_region.width

    def render_line(self, y: int) -> Strip:
        width = self._width
        columns = self._columns_in(width)
        if y == 0:
            return self._header(columns, width)
        index = round(self.scroll_y) + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        key, cells = self._rows[index]
        if index == self.cursor_row:
            style = self.get_component_rich_style("keyed-table--cursor")
        else:
            style = self.get_component_rich_style(
                "keyed-table--odd-row" if index % 2 else "keyed-table--even-row"
            )
        cached = self._lines.get(key)
        if cached is not None and cached[1] == style and cached[0] == cells:
            return cached[2]
        strip = draw_line(
            self.app.console,
            self._columns,
            columns,
            cells,
            style,
            width,
            cursor=index == self.cursor_row,
        )
        if len(self._lines) > 4 * max(self.size.height, 50):
            self._lines.clear()  # only the rows in view are worth keeping
        self._lines[key] = (cells, style, strip)
        return strip

    def _header(self, columns: list[tuple[Column, int]], width: int) -> Strip:
        """The header line, and over its end, while rows came above the cursor, "↑ 3 new"."""
        labels = header_labels(self._columns, columns, self._sort_keys, self._sort)
        style = self.get_component_rich_style("keyed-table--header")
        line = draw_line(
            self.app.console,
            self._columns,
            columns,
            labels,
            style,
            width,
            cursor=False,
            header=True,
        )
        if not self.unseen:
            return line
        mark = Text(f" ↑ {self.unseen} new (g) ", style=style + Style(reverse=True))
        if mark.cell_len >= width:
            return line
        tail = Strip(list(mark.render(self.app.console)))
        return Strip.join([line.crop(0, width - mark.cell_len), tail])
