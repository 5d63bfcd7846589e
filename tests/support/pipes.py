"""Named pipes in tests: a call that would wait on one forever is let go, so that a test of
"never waits on a pipe" fails instead of hanging."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

WAIT_S = 10.0
"""Far longer than a read or a check takes; a call still running then waits for a writer."""


def finished(call: Callable[[], Any], pipe: Path) -> tuple[bool, Any]:
    """Whether `call` returned (or raised) with no more written to `pipe`, and what it
    returned or raised; a call still waiting on the pipe is let go by a writer that opens
    the pipe and closes it at once."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # (any outcome is the caller's to judge)
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(WAIT_S)
    waited = thread.is_alive()
    if waited:
        with contextlib.suppress(OSError):  # no reader waits any more: nothing to let go
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        thread.join()
    return not waited, result[0] if result else None


def fed(pipe: Path, content: bytes) -> threading.Thread:
    """A writer that puts `content` into `pipe` once a reader opens it, then closes it."""
    thread = threading.Thread(target=pipe.write_bytes, args=(content,), daemon=True)
    thread.start()
    return thread
