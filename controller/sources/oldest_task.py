"""How long each pool's oldest task has waited for a worker: when the first task its consumer
has not delivered yet reached the stream.

A pool's pending tasks (its consumer's num_pending) are those on its filter subject after the
last one it delivered (`delivered.stream_seq`); the first of them is the oldest still waiting.
The stream's message-get API (`$JS.API.STREAM.MSG.GET.<stream>` with `next_by_subj`) gives its
time. A task taken and given back (a nak, an ack wait run out) waits in ack pending for its
redelivery: it counts as lag, not here.

The time is read again only when the consumer has delivered more since (the first pending
task is another); a pool with nothing pending has none. The age is shown and alerted on, and
the policy never reads it: an answer that cannot be read leaves it unknown (dropped as a bad
`queue` message: counted, and logged at most once a minute), never the lag stale; and these
reads may add at most AGE_SHARE of a request's timeout to a read of the lag.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from nats.aio.client import Client

from controller.core.bad_messages import BadMessages
from controller.core.model import SourceError
from controller.sources.jetstream_api import first_after, request, stored_at

AGE_SHARE = 0.25
"""The most the oldest tasks' reads add to a read, as a share of a request's timeout: those
not answered by then are unknown until the next read, and the lag is on time."""


class OldestTasks:
    """Per pool, the time its oldest pending task reached the stream, read when it may have
    changed."""

    def __init__(
        self,
        nc: Client,
        queues: Mapping[str, tuple[str, str]],
        *,
        bad: BadMessages,
        timeout: float,
        limit: asyncio.Semaphore,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nc = nc
        self._queues = queues
        """Per pool, its stream and subject."""
        self._bad = bad
        self._budget = timeout * AGE_SHARE
        self._limit = limit
        self._timer = timer
        self._known: dict[str, tuple[int, float]] = {}
        """Per pool, the sequence its oldest pending task was read from, and its time."""
        self._wanted: dict[str, int] = {}
        """Per pool whose oldest pending task is not known, the first sequence it can have."""

    def note(self, pool: str, *, pending: int, delivered: int) -> float | None:
        """The time of the pool's oldest pending task as known, for a reading of `pending`
        tasks after the stream sequence `delivered`; None where none is pending, or where it
        is not known (`read` asks for it)."""
        if pending <= 0:
            self._known.pop(pool, None)
            self._wanted.pop(pool, None)
            return None
        known = self._known.get(pool)
        if known is not None and known[0] == delivered + 1:
            self._wanted.pop(pool, None)
            return known[1]
        self._wanted[pool] = delivered + 1
        return None

    async def read(self) -> dict[str, float]:
        """The times of the pools whose oldest pending task is not known, those answered in
        time (the others are asked for again at the next read)."""
        wanted, self._wanted = self._wanted, {}
        if not wanted:
            return {}
        deadline = self._timer() + self._budget
        times = await asyncio.gather(
            *(self._read(pool, seq, deadline) for pool, seq in wanted.items())
        )
        found = {}
        for (pool, seq), at in zip(wanted.items(), times, strict=True):
            if at is not None:
                self._known[pool] = (seq, at)
                found[pool] = at
        return found

    async def _read(self, pool: str, seq: int, deadline: float) -> float | None:
        stream, subject = self._queues[pool]
        async with self._limit:
            left = deadline - self._timer()
            try:
                if left <= 0:
                    raise SourceError("out of time")
                data = await request(self._nc, *first_after(stream, subject, seq), left)
            except SourceError:  # not in time (or NATS is down: the lag's read says so)
                self._wanted.setdefault(pool, seq)  # the next read asks again
                return None
        what = f"stream {stream}'s oldest task on {subject}"
        try:
            return stored_at(data, what)  # None: taken since; its pool's next reading says
        except SourceError as exc:
            self._bad.drop("queue", str(exc))
            return None
