"""Standard output whose write errors say where they happened.

A command that prints into a full disk (`agentdash plan > /dev/full`) met a bare OSError
somewhere in a print, a json.dump or a copy, and showed it as a traceback. The CLI's main
cannot tell that OSError from any other, so while a command runs, sys.stdout writes through a
file whose write errors are `OutputError`: main says them in one line, once, for every command.
A closed pipe (`| head`) stays a BrokenPipeError: that is the reader's choice, not a failure.
"""

from __future__ import annotations

import errno
import io
import os
import select
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class OutputError(OSError):
    """A write to standard output failed (not because its reader went away)."""


class _StandardOutput(io.FileIO):
    def write(self, data: ReadableBuffer) -> int:
        try:
            return super().write(data)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(exc.errno, exc.strerror) from None


class _ClosedOutput(io.RawIOBase):
    """Where a process started with its standard output closed (`>&-`) writes: Python then
    has no sys.stdout at all, and the first print was an AttributeError's traceback."""

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        raise OutputError(errno.EBADF, "standard output is closed")


@contextmanager
def errors_told() -> Iterator[None]:
    """sys.stdout raises OutputError for a failed write while in the block. Only the process's
    own stdout is replaced: one a test or a caller put there is left as it is."""
    given = sys.stdout
    if given is None:
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(_ClosedOutput()), encoding="utf-8")
        try:
            yield
        finally:
            sys.stdout = given
        return
    if given is not sys.__stdout__ or not isinstance(given, io.TextIOWrapper):
        yield
        return
    try:
        raw = _StandardOutput(given.fileno(), "w", closefd=False)
    except (OSError, ValueError):  # no file behind it (closed, or never opened)
        yield
        return
    given.flush()
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding=given.encoding,
        errors=given.errors,
        line_buffering=given.line_buffering,
        write_through=given.write_through,
    )
    try:
        yield
    finally:
        sys.stdout = given


def unbuffered() -> Callable[[ReadableBuffer], int]:
    """A write straight to the process's standard output, its errors as `errors_told` says
    them: no buffer and no lock of Python's in between, so that a thread blocked in it (its
    reader stopped) holds nothing that another write or Python's flush at exit waits for."""
    if sys.stdout is None:
        return _ClosedOutput().write
    sys.stdout.flush()
    try:
        fileno = sys.stdout.fileno()
        raw = _StandardOutput(fileno, "w", closefd=False)
    except (OSError, ValueError):  # no file behind it (closed, or never opened)
        return _ClosedOutput().write

    def write(data: ReadableBuffer) -> int:
        # A stdout its parent left non-blocking answers "not now" (None) once full: wait,
        # as on a blocking one, rather than have the caller spin.
        while (written := raw.write(data)) is None:
            select.select([], [fileno], [])
        return written

    return write


def discard() -> None:
    """Send what is left to write, now and at exit, to /dev/null: the output cannot be
    written, and Python's own flush at exit would fail again, with a message of its own."""
    try:
        fileno = sys.stdout.fileno()
    except (OSError, ValueError):  # closed from the start: no descriptor to point elsewhere
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (open until the process ends)
        return
    os.dup2(os.open(os.devnull, os.O_WRONLY), fileno)
