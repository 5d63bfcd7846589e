"""A command's --help description filled to the terminal's width, its tables and examples kept.

argparse either fills a description as one paragraph (its tables and examples run together)
or prints it as written (RawDescriptionHelpFormatter): written for a wide terminal, the
descriptions of tune, queues, rbac and the imports ran to 95 columns, and an 80-column
terminal broke every line of them a few words from its end.
"""

from __future__ import annotations

import argparse
import re
import textwrap

GAP = re.compile(r"\S( {2,})\S")
"""Two spaces or more between words: a table's column (`both          (the default) ...`)."""


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _fill(text: str, width: int, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        text,
        width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,  # a path, a flag or a field name stays whole
        break_on_hyphens=False,  # `scale-up`, `--holdout`
    )


def _row(lines: list[str], width: int) -> list[str]:
    """An indented line and the lines below it indented further: a table's row, its text
    filled under its own column; an example (no column) as written."""
    first = lines[0]
    gap = GAP.search(first, _indent(first))
    if gap is None:
        return lines
    column = gap.end(1)
    hang = _indent(lines[1]) if len(lines) > 1 else column
    words = " ".join([first[column:], *(line.strip() for line in lines[1:])])
    return _fill(words, width, first[:column], " " * hang)


def _heading(lines: list[str], i: int) -> bool:
    """A line from the margin with a column, over an indented one: a table's heading."""
    below = lines[i + 1] if i + 1 < len(lines) else ""
    line = lines[i]
    return not line.startswith(" ") and GAP.search(line) is not None and below.startswith(" ")


def fill_description(text: str, width: int) -> list[str]:
    """`text`'s paragraphs (lines from the margin) filled to `width`; an indented line and
    its continuation as a row (`_row`); a table's heading and blank lines as written."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or _heading(lines, i):
            out.append(line.rstrip())
            i += 1
        elif line.startswith(" "):
            end = i + 1
            while end < len(lines) and _indent(lines[end]) > _indent(line) and lines[end].strip():
                end += 1
            out += _row(lines[i:end], width)
            i = end
        else:
            end = i + 1
            while end < len(lines) and lines[end].strip() and not lines[end].startswith(" "):
                end += 1
            out += _fill(" ".join(lines[i:end]), width, "", "")
            i = end
    return out


class FilledDescription(argparse.RawDescriptionHelpFormatter):
    """Fills a description as `fill_description` says, to the terminal's width."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "".join(f"{indent}{line}\n" for line in fill_description(text, width))
