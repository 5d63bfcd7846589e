"""The `agentdash` command's entry point. It imports nothing heavy itself, so that Ctrl-C
while the program is still loading (a second or more on a busy machine) is the same one line
and exit 130 as Ctrl-C once it runs, not a traceback from inside an import."""

from __future__ import annotations

import sys

from agentdash.errors import INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    try:
        from agentdash.cli import main as command

        return command(argv)
    except KeyboardInterrupt:
        print("agentdash: interrupted", file=sys.stderr)
        return INTERRUPTED
