"""The manual's pages as tests read them: a section under a heading, its fenced blocks."""

from __future__ import annotations

import re
from pathlib import Path


def section(page: Path, heading: str) -> str:
    """A page's text from `heading` to the next heading of its level or above."""
    text = page.read_text()
    start = text.index(f"\n{heading}\n") + 1
    level = len(heading.split(" ", 1)[0])
    after = re.compile(rf"(?m)^#{{1,{level}}} ").search(text, start + len(heading))
    return text[start : after.start() if after else len(text)]


def blocks(text: str, fence: str) -> list[str]:
    """The bodies of the blocks fenced as ```fence (the empty string: no language)."""
    found: list[tuple[str, list[str]]] = []
    inside = False
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            inside = not inside
            if inside:
                found.append((line[3:].strip(), []))
        elif inside:
            found[-1][1].append(line)
    return ["".join(body) for language, body in found if language == fence]
