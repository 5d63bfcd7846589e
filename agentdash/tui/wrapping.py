"""Text wrapped where a reader would break it.

Textual and Rich wrap at any space: at 80 to 100 columns the pin dialog asked "...for 2,880
min (2" with "d)?" on the next line, and Why ended a step with "2 ->" and put the "6" it
came to alone below. A length (`2,880 min`, `90 s`), a short aside in brackets (`(2 d)`) and
a change (`2 -> 6`) stay on one line; the text breaks at the spaces between them.
"""

from __future__ import annotations

import re

from rich.cells import cell_len, set_cell_size
from rich.console import Console, JustifyMethod, OverflowMethod
from rich.containers import Lines
from rich.text import Text
from textual.content import Content
from textual.geometry import Size
from textual.visual import Visual
from textual.widgets import Static

KEPT = re.compile(r"\S+ -> \S+|\([^()]{1,12}\)\S*|\d[\d,.]* [a-z]+\S*")
"""A change (`2 -> 6`); a short aside in brackets, with what follows it up to the next space
(`(2 d)?`); a number and its unit (`2,880 min`, `3 warm`)."""


def breaks(text: str, width: int) -> list[int]:
    """Where each line after the first starts when `text` is wrapped into `width` cells at
    its spaces, none inside what KEPT keeps together."""
    inside = {i for found in KEPT.finditer(text) for i in range(found.start(), found.end())}
    spaces = [i for i, c in enumerate(text) if c == " " and i not in inside]
    starts: list[int] = []
    line_start = 0
    for space, after in zip([-1, *spaces], [*spaces, len(text)], strict=True):
        word_start = space + 1
        if after - line_start > width and word_start > line_start:
            starts.append(word_start)
            line_start = word_start
    return starts


def wrapped(content: Content, width: int) -> Content:
    """`content` in lines of at most `width` cells, broken as `breaks` says; as it was, for
    Textual to wrap, where a part kept together is wider than `width` on its own."""
    if width <= 0:
        return content
    lines = [
        part.rstrip()
        for line in content.split("\n", allow_blank=True)
        for part in line.divide(breaks(line.plain, width))
    ]
    if any(line.cell_length > width for line in lines):
        return content
    return Content("\n").join(lines)


TOAST_WIDTH = 60
TOAST_GUTTER = 4
"""A toast is 60 cells wide, at most half the screen; its border and padding take 3, and one
more spares the odd half cell."""


def toast_width(screen_width: int) -> int:
    """The cells of a line of text in a toast on a screen `screen_width` cells wide."""
    return min(TOAST_WIDTH, screen_width // 2) - TOAST_GUTTER


def toast_text(text: str, screen_width: int) -> str:
    """`text` in the lines of a toast on a screen `screen_width` cells wide, broken as
    `breaks` says: Textual wrapped "for 2,880 min (2" and "d), by alice" at 60 columns."""
    width = toast_width(screen_width)
    starts = breaks(text, width) if width > 0 else []
    lines = [text[a:b].rstrip() for a, b in zip([0, *starts], [*starts, len(text)], strict=True)]
    return "\n".join(lines) if all(len(line) <= width for line in lines) else text


PATH_BREAKS = ("/", "_-.")
"""Where a path breaks, best first: after a folder; else inside a file name, after one of
its parts (`agentdash_`, `2026-11-29T04_31_10_`)."""


def path_lines(path: str, width: int) -> list[str]:
    """`path` in lines of at most `width` cells, each broken as PATH_BREAKS says; where a
    part is wider than `width` on its own, at `width`. Textual breaks a path that has no
    space anywhere: "/Dow" and "nloads/", "2026-11" and "-29T04"."""
    lines: list[str] = []
    rest = path
    while width > 0 and cell_len(rest) > width:
        fits = len(set_cell_size(rest, width).rstrip())  # the characters within `width` cells
        cut = next(
            (
                end + 1
                for marks in PATH_BREAKS
                for end in [max(rest.rfind(mark, 0, fits) for mark in marks)]
                if end > 0
            ),
            max(fits, 1),
        )
        lines.append(rest[:cut])
        rest = rest[cut:]
    return [*lines, rest]


class KeptStatic(Static):
    """A Static whose text wraps as `wrapped` says (a dialog's question, the detail panes)."""

    def _wrapped(self, width: int) -> Visual:
        visual = self.visual
        return wrapped(visual, width) if isinstance(visual, Content) else visual

    def render(self) -> Visual:
        return self._wrapped(self.content_size.width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        lines = self._wrapped(width)
        if lines is self.visual:  # left to Textual to wrap
            return super().get_content_height(container, viewport, width)
        assert isinstance(lines, Content)
        return lines.plain.count("\n") + 1


class KeptText(Text):
    """A Rich Text that wraps as `breaks` says (in the Rich tables of Why and describe)."""

    def wrap(
        self,
        console: Console,
        width: int,
        *,
        justify: JustifyMethod | None = None,
        overflow: OverflowMethod | None = None,
        tab_size: int = 8,
        no_wrap: bool | None = None,
    ) -> Lines:
        lines = Lines()
        for line in self.split(allow_blank=True):
            parts = line.divide(breaks(line.plain, width))
            for part in parts:
                part.rstrip()
            if any(part.cell_len > width for part in parts):  # a part kept is too wide
                parts = line.wrap(console, width, justify=justify, overflow=overflow)
            lines.extend(parts)
        return lines
