"""Standard input, when a command is given `-` for a file."""

from __future__ import annotations

import io
import sys
from typing import IO

from controller.core.config import ConfigError


def piped(what: str, given: str = "-") -> IO[str]:
    """Standard input as UTF-8 text, when it is a pipe or a file. A terminal is refused rather
    than waited on: a user who typed `-` by mistake would see nothing happen."""
    if sys.stdin is None or sys.stdin.isatty():
        got = "none: it is closed" if sys.stdin is None else "a terminal"
        raise ConfigError("standard input", "", f"expected {what} piped in ({given}), got {got}")
    return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig")
