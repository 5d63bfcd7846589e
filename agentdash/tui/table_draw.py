"""How a KeyedTable's lines are drawn: each cell rendered from its raw value and cut to its
column's width, a column given way folded into another, the header's sort letters and arrow,
and the row's style under the cells' own. These are functions of the columns, the cells and the
console; the widget (agentdash.tui.table) decides which rows are in view and keeps their lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from agentdash.tui.columns import PADDING, Column
from controller.core.printable import printable

ARROWS = {False: "▲", True: "▼"}


def header_labels(
    columns: Sequence[Column],
    shown: list[tuple[Column, int]],
    sort_keys: dict[str, str],
    sort: tuple[str, bool] | None,
) -> tuple[Text, ...]:
    """The labels, each with its sort letter underlined, and an arrow on the sorted one."""
    letters = {label: letter for letter, label in sort_keys.items()}
    widths = {column.label: width for column, width in shown}
    labels = []
    for column in columns:
        label = Text(column.label)
        at = column.label.upper().find(letters.get(column.label, "\0"))
        if at >= 0:
            label.stylize("underline", at, at + 1)
        if sort and sort[0] == column.label:
            # The arrow says what the rows are sorted by: the label gives way to it.
            room = widths.get(column.label, len(column.label) + 1) - 1
            label = label[:room] if label.cell_len > room else label
            label.append(ARROWS[sort[1]])
        labels.append(label)
    return tuple(labels)


def draw_line(
    console: Console,
    all_columns: Sequence[Column],
    columns: list[tuple[Column, int]],
    cells: tuple[Any, ...],
    style: Style,
    width: int,
    *,
    cursor: bool,
    header: bool = False,
) -> Strip:
    """One line of the table: the cells of `columns` (those shown, with their widths), where
    `cells` holds a value for each of `all_columns`."""
    by_label = {c.label: i for i, c in enumerate(all_columns)}
    shown = {c.label for c, _ in columns}
    folded: dict[str, list[tuple[str, str]]] = {}
    if not header:
        for i, column in enumerate(all_columns):
            if column.fold_into and column.label not in shown:
                value = cell_text(column, cells[i]).plain
                if value and value != "-":
                    folded.setdefault(column.fold_into, []).append((column.label.lower(), value))
    line = Text(no_wrap=True, end="")
    for column, cell_width in columns:
        i = by_label[column.label]
        text = cells[i] if header else cell_text(column, cells[i])
        for label, value in folded.get(column.label, ()):
            # A cell that names it already (STATE "pinned 4m") is not told again: the
            # repeat would only push the cell past its width and be cut.
            if not text.plain.lower().startswith(label):
                text = Text.assemble(text, f", {label} {value}")
        if column.crop_left and text.cell_len > cell_width:
            text = text[text.cell_len - cell_width :]  # fine: a sparkline is one cell a char
        text.truncate(cell_width, overflow="ellipsis", pad=True)
        line.append(" " * PADDING)
        line.append_text(text)
        line.append(" " * PADDING)
    # The row's style goes under the cells' own; the cursor's wins over them (DataTable's way).
    segments = Segment.apply_style(
        line.render(console), style=style, post_style=style if cursor else None
    )
    return Strip(segments).adjust_cell_length(width, style).simplify()


def cell_text(column: Column, value: Any) -> Text:
    if column.render is not None:
        value = column.render(value)
    # a Text was built by its screen; any other value is shown as text, never as markup
    return value.copy() if isinstance(value, Text) else Text(printable(str(value)))
