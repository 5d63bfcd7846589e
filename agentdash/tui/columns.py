"""A table's columns: their widths and priorities, how they share a width too narrow for all
(the lowest priority give way first, a flexible column takes the room left), and how their
values sort."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text

PADDING = 1
"""Blank cells each side of a column."""


@dataclass(frozen=True)
class Column:
    label: str
    width: int | None = None
    """None: a flexible column that takes the width the others leave (at least `min_width`)."""
    priority: int = 5
    """When the table is too narrow, the lowest priority columns drop first."""
    min_width: int | None = None
    """The fewest cells it does with: a fixed column shrinks to it before any column drops;
    a flexible one (12 unless told) never gets less."""
    fold_into: str | None = None
    """A dropped column's value is appended to this column's, e.g. STATE "steady, pin 3"."""
    sort: str | None = None
    """The shift+letter that sorts by this column; by default the first free letter of its label,
    and "" for none (a sparkline has no order)."""
    crop_left: bool = False
    """Cut from the left when narrow: a sparkline keeps its newest points."""
    render: Callable[[Any], str | Text] | None = None
    """Cells hold raw values and this draws them (e.g. an age from a start time), so a value
    that only looks different each second is formatted for the rows on screen alone."""
    sort_value: Callable[[Any], Any] | None = None
    """The order of raw values, where it is not their natural order."""


ColumnSpec = Column | tuple[str, int | None]


def as_column(spec: ColumnSpec) -> Column:
    return spec if isinstance(spec, Column) else Column(*spec)


def layout(columns: Sequence[Column], width: int) -> list[tuple[Column, int]]:
    """The columns that fit in `width` cells, each with its width, in their order: the lowest
    priority drop until the rest fit at their least; then the most important grow back to
    their width first, and flexible columns share what is left."""
    kept = list(columns)
    for column in sorted(reversed(columns), key=lambda c: c.priority):  # ties: rightmost first
        if len(kept) == 1 or _needed(kept) <= width:
            break
        kept.remove(column)
    widths = {c.label: _least(c) for c in kept}
    spare = width - _needed(kept)
    for column in sorted(kept, key=lambda c: -c.priority):
        if column.width is not None and spare > 0:
            grow = min(spare, column.width - widths[column.label])
            widths[column.label] += grow
            spare -= grow
    flexible = [c for c in kept if c.width is None]
    for column in flexible:
        widths[column.label] += max(0, spare) // len(flexible)
    return [(c, widths[c.label]) for c in kept]


def _least(column: Column) -> int:
    if column.min_width is not None:
        return column.min_width
    return column.width if column.width is not None else 12


def _needed(columns: Sequence[Column]) -> int:
    return sum(_least(c) + 2 * PADDING for c in columns)


BOUND = frozenset("SG")
"""Shift+letters the app or the table binds already (pause all, last row): never a sort key."""


def sort_letters(columns: Sequence[Column]) -> dict[str, str]:
    """Each column's sort key, as letter to label: the column's own `sort`, else the first
    letter of its label that no column before it took and neither the app nor the table binds."""
    letters: dict[str, str] = {}
    for column in columns:
        letter = (
            column.sort
            if column.sort is not None
            else next(
                (
                    ch
                    for ch in column.label.upper()
                    if ch.isalpha() and ch not in BOUND and ch not in letters
                ),
                None,
            )
        )
        if letter:
            letters[letter] = column.label
    return letters


NUMBER = re.compile(r"(\d+(?:\.\d+)?)([smhdkM%]?)")
UNITS = {"": 1, "%": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "k": 1e3, "M": 1e6}
CHUNKS = re.compile(r"(\d+)")


def sort_value(value: Any) -> tuple[Any, ...]:
    """An order people expect: numbers by size ("12k" < "1.2M", "90s" < "2m"), names with
    numbers in them naturally ("pool-9" < "pool-10"), and text after numbers."""
    if isinstance(value, bool | int | float):
        return (0, float(value))
    return _text_order(value.plain if isinstance(value, Text) else str(value))


@functools.lru_cache(maxsize=1 << 16)
def _text_order(text: str) -> tuple[Any, ...]:
    # Cached: sorting 20,000 pods by name on every refresh would parse every name each time.
    parts = NUMBER.findall(text)
    if parts and "".join(n + u for n, u in parts) == text.replace(",", ""):
        return (0, sum(float(n) * UNITS[u] for n, u in parts))
    chunks = CHUNKS.split(text.lower())
    return (1, tuple(int(c) if i % 2 else c for i, c in enumerate(chunks)))
