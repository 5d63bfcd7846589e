"""A dialog's question, wrapped where a reader would break it.

Textual wraps at any space: at 80 to 100 columns the pin dialog asked "...for 2,880 min (2"
with "d)?" on the next line. A length (`2,880 min`, `90 s`) and a short aside in brackets
(`(2 d)`, `(1 h)`) stay on one line; the question breaks at the spaces between them.
"""

from __future__ import annotations

import re

from textual.content import Content
from textual.geometry import Size
from textual.visual import Visual
from textual.widgets import Label

KEPT = re.compile(r"\([^()]{1,12}\)\S*|\d[\d,.]* [a-z]+\S*")
"""A short aside in brackets, with what follows it up to the next space (`(2 d)?`); a number
and its unit (`2,880 min`, `3 warm`)."""


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
    if width <= 0 or "\n" in content.plain:
        return content
    lines = [line.rstrip() for line in content.divide(breaks(content.plain, width))]
    if any(line.cell_length > width for line in lines):
        return content
    return Content("\n").join(lines)


class Question(Label):
    """A Label whose text wraps as `wrapped` says."""

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
        return len(lines.plain.splitlines())
