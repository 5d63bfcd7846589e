"""The demo's exit summary: every task it published counted once, as completed, still
queued (read from the stream itself), unconfirmed (acked while NATS could not confirm it) or
lost; and the read of what is still queued, which a slow or absent NATS cannot hold past a
deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client

from agentdash.demo.worker import MSG_ID
from controller.core.config import Config

READ_TIMEOUT_S = 2.0
"""How long one read of JetStream may take."""
UNREACHABLE = "NATS unreachable"
RECONNECT_WAIT_S = 5.0
"""At stop, how long to wait for NATS to come back to read what is still queued."""
QUEUE_READ_S = 8.0
"""At stop, the most spent on reading what is still queued, the wait for NATS included.
Past it the summary says the queue was not read and counts what is not done as remaining
(the demo itself drops nothing), so that a slow NATS on a loaded machine cannot hold the
exit past a dashboard's grace (agentdash.tui.leaving.GRACE_S)."""


@dataclass(slots=True)
class Summary:
    published: int = 0
    completed: int = 0
    unconfirmed: int = 0
    """Worked on and acked, but NATS never confirmed the ack: done, or queued again."""
    lost: int = 0
    remaining: int = 0
    queue_read: bool = True
    """False if NATS could not be read at the end: `remaining` is then what was not done."""
    queue_unread: str = ""
    """Why the queue was not read ("" when it was): NATS out of reach, or too long a read."""
    redelivered: int = 0
    rejected: int = 0
    peak_replicas: dict[str, int] = field(default_factory=dict)
    scale_events: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "summary",
            "published": self.published,
            "completed": self.completed,
            "unconfirmed": self.unconfirmed,
            "lost": self.lost,
            "remaining": self.remaining,
            "queue_read": self.queue_read,
            "redelivered": self.redelivered,
            "rejected": self.rejected,
            "peak_replicas": self.peak_replicas,
            "scale_events": self.scale_events,
        }


def account(
    summary: Summary,
    published: set[str],
    completed: set[str],
    unconfirmed: set[str],
    queued: set[str] | None,
) -> None:
    """Put every published task in exactly one of completed, remaining (still in JetStream),
    unconfirmed and lost. `queued` is None when JetStream could not be read: what is not
    done is then counted as remaining, since the demo itself never drops a task."""
    done = completed & published
    left = (queued & published) - done if queued is not None else set()
    unsure = (unconfirmed & published) - done - left
    summary.published = len(published)
    summary.completed = len(done)
    summary.unconfirmed = len(unsure)
    summary.queue_read = queued is not None
    if queued is None:
        summary.remaining = len(published - done - unsure)
        summary.lost = 0
    else:
        summary.remaining = len(left)
        summary.lost = len(published - done - left - unsure)


async def keys_left(
    nc: Client | None, connected: asyncio.Event, config: Config
) -> tuple[set[str] | None, str]:
    """The keys of the tasks still in JetStream, read within QUEUE_READ_S, or None and why
    not. `connected` is set while the client is connected. One read a task: a connected NATS
    with thousands queued runs out of time, and is not "unreachable"."""
    try:
        found = await asyncio.wait_for(_keys_left(nc, connected, config), timeout=QUEUE_READ_S)
    except TimeoutError:
        found = None
        if nc is not None and nc.is_connected:
            return None, f"the read of what is still queued took over {QUEUE_READ_S:g} s"
    return found, "" if found is not None else UNREACHABLE


async def _keys_left(
    nc: Client | None, connected: asyncio.Event, config: Config
) -> set[str] | None:
    """A work-queue stream keeps a task until it is acked, so this is every task waiting,
    in a worker's hands, or nak'ed by a stopping one: no need to wait for naks to land."""
    if nc is None:  # stopped while starting: not one task was sent
        return set()
    with contextlib.suppress(TimeoutError):  # NATS may be reconnecting: give it a moment
        await asyncio.wait_for(connected.wait(), timeout=RECONNECT_WAIT_S)
    if not nc.is_connected:
        return None
    js = nc.jetstream(timeout=READ_TIMEOUT_S)
    # Each pool's tasks are read one after the other (the next read starts past the last
    # one found), the pools side by side: the wait at quit is the longest queue's, not all.
    reads = (
        _keys_in(js, pool.queue.stream, config.subject(name)) for name, pool in config.pools.items()
    )
    try:
        found = await asyncio.gather(*reads)
    except (nats.errors.Error, TimeoutError):
        return None
    return set().union(*found)


async def _keys_in(js: Any, stream: str, subject: str) -> set[str]:
    """The message ids of every message on `subject` in `stream`, one read each."""
    keys: set[str] = set()
    seq = 1
    while True:
        try:
            msg = await js.get_msg(stream, seq=seq, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            return keys
        keys.add(str((msg.headers or {}).get(MSG_ID, "")))
        seq = msg.seq + 1
