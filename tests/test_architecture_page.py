"""docs/architecture.md says "every name here is a real module, class or function": each name
it quotes is one the code (or pyproject.toml's contracts) still has, so a rename or a move
does not leave the page pointing at nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "architecture.md"
NAME = re.compile(r"`([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)`")
FILE_KINDS = {"py", "md", "yaml", "tcss", "toml", "json"}


def sources() -> str:
    files = [
        *sorted((ROOT / "controller").rglob("*.py")),
        *sorted((ROOT / "agentdash").rglob("*.py")),
    ]
    return "\n".join([path.read_text() for path in files] + [(ROOT / "pyproject.toml").read_text()])


def test_every_name_the_page_quotes_is_in_the_code() -> None:
    code = sources()
    names = {match.split(".")[-1] for match in NAME.findall(PAGE.read_text())}
    missing = sorted(
        name for name in names - FILE_KINDS if not re.search(rf"\b{re.escape(name)}\b", code)
    )
    assert missing == [], f"docs/architecture.md names what the code does not have: {missing}"
