"""Whether the dashboard has a terminal to draw on and read keys from.

Without one it did nothing anyone could use: `agentdash demo | cat` drew an 80x24 screen into
the pipe whatever the terminal's size, `agentdash < /dev/null` spun at 40-80% of a core on a
standard input at its end and could not be quit but by a signal, TERM=dumb was drawn on as
any terminal, and a kubeconfig error came after a page of escapes. Textual draws on standard
error, so `agentdash 2> log` drew the whole screen into the log and left the terminal blank.
So the dashboard asks for one first, in one line, and says what runs without one.
"""

from __future__ import annotations

import os
import sys

from agentdash.errors import UnusableInput
from controller.core.wording import in_words


def need_a_terminal(instead: str) -> None:
    """Raise UnusableInput (one line, exit 2) unless standard input, output and error are a
    terminal the dashboard can draw on (it draws on standard error, as Textual does);
    `instead`: what to run without one."""
    streams = (
        ("standard input", sys.stdin),
        ("standard output", sys.stdout),
        ("standard error (where it draws)", sys.stderr),
    )
    missing = [name for name, stream in streams if stream is None or not stream.isatty()]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        said = f"the dashboard needs a terminal, and {in_words(missing)} {verb} not one"
        raise UnusableInput(f"{said}: {instead}")
    if os.environ.get("TERM") == "dumb":
        raise UnusableInput(f"the dashboard cannot draw on TERM=dumb: {instead}")
