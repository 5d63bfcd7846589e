"""Ending a task that may not end on the first cancel. Imports nothing heavy: the demo's
command uses it before NATS is imported."""

from __future__ import annotations

import asyncio
from typing import Any

RECANCEL_S = 0.1
"""How long a cancelled task has to end before it is cancelled again."""


async def cancel_until_done(task: asyncio.Future[Any]) -> None:
    """Cancel `task` and return once it has ended, cancelling it again while it runs on.

    One cancel can be lost: Python 3.11's asyncio.wait_for, cancelled in the same turn of the
    loop as the thing it awaits completes, returns that result and drops the cancel (fixed in
    3.12). nats.py awaits each TCP connect so, and its first connection retries for ever
    (max_reconnect_attempts -1): a signal that came as the connection opened stopped nothing,
    and the next ones found the stop already asked for."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_S)
