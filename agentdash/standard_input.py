"""Standard input, when a command is given `-` for a file."""

from __future__ import annotations

import io
import sys
from typing import IO, BinaryIO

from controller.core.config import ConfigError
from controller.core.file_text import text_of

SOURCE = "standard input"
"""What an error names standard input as."""


def named(given: object) -> str:
    """A file as given on the command line, `-` named as standard input."""
    return SOURCE if str(given) == "-" else str(given)


def piped(what: str, given: str = "-") -> IO[str]:
    """Standard input as UTF-8 text, when it is a pipe or a file. A terminal is refused rather
    than waited on: a user who typed `-` by mistake would see nothing happen."""
    return io.TextIOWrapper(_piped_bytes(what, given), encoding="utf-8-sig")


def piped_whole(what: str, kind: str) -> str:
    """Standard input read whole, as a file given by name is (read_text): `kind` of at most
    4 MiB of UTF-8."""
    return text_of(_piped_bytes(what, "-"), SOURCE, kind)


def _piped_bytes(what: str, given: str) -> BinaryIO:
    if sys.stdin is None or sys.stdin.isatty():
        got = "none: it is closed" if sys.stdin is None else "a terminal"
        raise ConfigError(SOURCE, "", f"expected {what} piped in ({given}), got {got}")
    return sys.stdin.buffer
