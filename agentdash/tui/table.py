"""A DataTable that is updated in place by row key.

`sync(rows)` takes the rows in the order they should show. Rows that went are removed, new
rows appended and only changed cells rewritten; only when the order itself changes (newest
first lists) is the table rebuilt. Either way the cursor stays on the row the operator
selected, by key, not by position, however many rows come and go around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual._two_way_dict import TwoWayDict
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, CellKey, RowDoesNotExist, RowKey

Row = tuple[str, tuple[Any, ...]]
BATCH_FROM = 8
"""From this many removals at once, remove in one pass (see _remove_rows)."""


class KeyedTable(DataTable[Any]):
    def __init__(self, columns: Sequence[tuple[str, int | None]], **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._spec = list(columns)
        self._shown: dict[str, tuple[Any, ...]] = {}

    def on_mount(self) -> None:
        for label, width in self._spec:
            self.add_column(label, width=width, key=label)

    def set_columns(self, columns: Sequence[tuple[str, int | None]]) -> None:
        """Replace the columns (a layout for another width); rows come back on the next sync."""
        self.clear(columns=True)
        self._spec = list(columns)
        self._shown = {}
        self.on_mount()

    @property
    def selected(self) -> str | None:
        if not self._shown:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return key.value

    def sync(self, rows: Sequence[Row]) -> None:
        selected = self.selected
        keys = [key for key, _ in rows]
        wanted = set(keys)
        kept = [key for key in self._shown if key in wanted]
        if keys[: len(kept)] != kept:
            self._rebuild(rows)
        else:
            self._update(rows)
        if selected is not None:
            self.select(selected)

    def _update(self, rows: Sequence[Row]) -> None:
        wanted = {key for key, _ in rows}
        gone = [k for k in self._shown if k not in wanted]
        self._remove_rows(gone)
        for key in gone:
            del self._shown[key]
        labels = [label for label, _ in self._spec]
        for key, cells in rows:
            old = self._shown.get(key)
            if old is None:
                self.add_row(*cells, key=key)
            elif old != cells:
                for label, before, after in zip(labels, old, cells, strict=True):
                    if before != after:
                        self.update_cell(key, label, after)
            self._shown[key] = cells

    def _remove_rows(self, keys: Sequence[str]) -> None:
        """Remove many rows in one pass.

        DataTable.remove_row renumbers every row and re-sorts them for the cursor on each call,
        so k removals from n rows cost k x n: over a second on 5,000 pods. This renumbers once.
        It touches DataTable internals, which is why textual is pinned to 8.2.x.
        """
        if len(keys) <= BATCH_FROM:
            for key in keys:
                self.remove_row(key)
            return
        gone = {RowKey(key) for key in keys}
        for row in gone:
            for column in self._data.get(row, {}):
                self._updated_cells.discard(CellKey(row, column))
            del self.rows[row]
            del self._data[row]
        locations = self._row_locations
        kept = sorted((k for k in locations if k not in gone), key=lambda k: locations.get(k) or 0)
        self._row_locations = TwoWayDict({key: index for index, key in enumerate(kept)})
        self._require_update_dimensions = True
        self._update_count += 1
        self.cursor_coordinate = self.cursor_coordinate  # clamped to the rows left
        self.refresh(layout=True)

    def _rebuild(self, rows: Sequence[Row]) -> None:
        self.clear()
        self._shown = {}
        for key, cells in rows:
            self.add_row(*cells, key=key)
            self._shown[key] = cells

    def select(self, key: str) -> None:
        try:
            index = self.get_row_index(key)
        except RowDoesNotExist:
            return
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False)
