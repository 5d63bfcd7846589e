"""Queue lag from NATS JetStream, and the wake-up that makes scale-from-zero immediate.

Lag per pool is what KEDA's nats-jetstream scaler reads: the pool's durable consumer's
num_pending + num_ack_pending. It is read a stream at a time (controller.sources.jetstream_api): on
each tick, one request says how many tasks each subject holds, and only the pools whose count
moved (or whose subject saw a task) are read again, by themselves or, when many moved, by
listing the stream's consumers 256 an answer; every pool is re-read within REREAD_EVERY_S
besides. A wake-up's few pools are read by themselves, at once.

Arrivals are seen by a plain subscription to each pool's subject: JetStream stores the
message and the subscription sees it at the same moment; one the stream did not store (a
duplicate, a refused publish) is left out once the pool's consumer is read
(controller.sources.arrivals). That gives the arrival rate (tasks
that arrived in the last RATE_WINDOW_S, over that window: it depends on when tasks came, not
on when the loop happened to read) and, for a pool at zero replicas, wakes the loop at once
instead of at its next tick (KEDA waits for its next poll, 30 s by default).

Each reading with tasks pending carries when the oldest of them came
(controller.sources.oldest_task): how long a task has waited for a worker, for the dashboard
and the alerts; the policy never reads it.

The streams and consumers themselves are the operator's: controller.sources.queue_plan
says what this source expects to read, and `agentdash queues` creates what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from controller.core.accounting import RATE_WINDOW_S
from controller.core.bad_messages import BadMessages
from controller.core.config import Config
from controller.core.model import QueueStats, SourceError
from controller.sources.arrivals import Arrivals, Consumer
from controller.sources.jetstream_api import (
    Delivered,
    Reads,
    Rotation,
    consumer_lag,
    consumer_page,
    list_instead,
    next_pages,
    subject_counts,
)
from controller.sources.oldest_task import OldestTasks
from controller.sources.refused_tasks import RefusedTasks

PENDING_ARRIVALS = 10_000
"""Tasks seen arriving and not yet counted, at most, per pool: beyond, a flood of them is
dropped as it arrives (nats.py's slow consumer), not queued. Only the arrival rate misses
them: the lag is read from the consumer."""
PENDING_ARRIVALS_BYTES = 64 * 1024**2
"""What those tasks may hold together over every pool (`arrival_buffer`): only their
subjects are read, but nats.py keeps each whole until its callback runs."""
UNKNOWN = -1
"""The subject's count of a pool read by itself on a wake-up: the next full read reads it
again (one request) rather than trust a count it did not take."""


def arrival_buffer(pools: int, max_payload: int) -> int:
    """The bytes each pool's arrival subscription may hold: its share of
    PENDING_ARRIVALS_BYTES, and room for at least two of the largest task the server takes
    (nats.py drops a message that would fill the room, so less than one never fits). At
    nats.py's default of 64 MiB a subscription, 40 pools may hold 2.5 GB where a server lets
    the watcher fall that far behind (at its own defaults it cuts the watcher first:
    benchmarks/arrival_flood.py)."""
    share = PENDING_ARRIVALS_BYTES // max(pools, 1)
    least = 2 * max(max_payload, 1) + 1
    return share if share > least else least


class JetStreamLagSource:
    def __init__(
        self,
        nc: Client,
        config: Config,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 2.0,
        concurrency: int = 32,
        bad: BadMessages | None = None,
        arrivals: Client | None = None,
    ) -> None:
        self._nc = nc
        self._arrivals_nc = arrivals
        """The connection the pools' task subjects are watched on (else `nc`): a producer
        may publish tasks faster than this process reads them, and the server cuts a slow
        consumer's connection; on the lease's, a flood of tasks cost the lease."""
        self._config = config
        self._clock = clock
        self._timeout = timeout
        self._limit = asyncio.Semaphore(concurrency)
        self._pool_of = {config.subject(name): name for name in config.pools}
        self._arrived: set[str] = set()
        """The pools with an arrival unread, or one not yet shown stored: a tick looks at
        these, not at every pool."""
        self._seen = Arrivals(config.pools)
        """Per pool, when each task in the rate window arrived, once JetStream stored it."""
        self._refused = RefusedTasks()
        self._bad = bad or BadMessages()
        self._started: float | None = None
        self._idle: set[str] = set()
        self._wake: Callable[[str], None] | None = None
        self._subscriptions: list[Any] = []
        streams: dict[str, dict[str, str]] = {}
        self._consumers: dict[str, dict[str, str]] = {}
        """Per stream, the pool each of its consumers feeds."""
        for name, pool in config.pools.items():
            streams.setdefault(pool.queue.stream, {})[name] = config.subject(name)
            self._consumers.setdefault(pool.queue.stream, {})[pool.queue.consumer] = name
        self._streams = {stream: Reads(subjects) for stream, subjects in streams.items()}
        """Per stream, its pools and what was read of them."""
        self._stream_of = {name: pool.queue.stream for name, pool in config.pools.items()}
        self._stats: dict[str, QueueStats] = {}
        """Per pool, its lag when last read (a pool that cannot have moved is not read)."""
        self._rated: dict[str, QueueStats] = {}
        """Per pool, its lag with its arrival rate, as last answered: only the pools read
        again or with arrivals in the rate window get a new answer (5,000 pools cost ms). In
        the config's order once every pool has one, so a whole answer is a copy of it."""
        self._ordered = False
        self._unrated: set[str] = set()
        """Pools read again, or with arrivals in the rate window, since the last answer."""
        self._spanned = False
        self._rotation = {stream: Rotation() for stream in self._streams}
        self._paging = dict.fromkeys(self._streams, (0, 256))
        """Per stream, its listing's total and page size, as last answered."""
        queues = {
            name: (pool.queue.stream, config.subject(name)) for name, pool in config.pools.items()
        }
        self._oldest = OldestTasks(nc, queues, bad=self._bad, timeout=timeout, limit=self._limit)
        """Per pool, when its oldest pending task came (shown, never decided on)."""

    async def start(self) -> None:
        self._started = self._clock()
        watch = self._arrivals_nc or self._nc
        room = arrival_buffer(len(self._pool_of), watch.max_payload)
        for subject in self._pool_of:
            self._subscriptions.append(
                await watch.subscribe(
                    subject,
                    cb=self._on_task,
                    pending_msgs_limit=PENDING_ARRIVALS,
                    pending_bytes_limit=room,
                )
            )

    async def stop(self) -> None:
        for sub in self._subscriptions:
            with contextlib.suppress(nats.errors.Error):  # the connection may be gone already
                await sub.unsubscribe()
        self._subscriptions.clear()

    def refused_tasks(self) -> str | None:
        """The pools whose tasks JetStream has refused to store for a while, in words; None
        if none (controller.sources.refused_tasks)."""
        return self._refused.problem(self._clock())

    def watch_idle(self, idle: set[str], wake: Callable[[str], None]) -> None:
        self._idle = idle
        self._wake = wake

    async def _on_task(self, msg: Msg) -> None:
        pool = self._pool_of.get(msg.subject)
        if pool is None:
            return
        self._seen.seen(pool, self._clock())
        self._unrated.add(pool)
        self._arrived.add(pool)
        if pool in self._idle and self._wake is not None:
            self._wake(pool)

    async def read(self, pools: Collection[str] | None = None) -> Mapping[str, QueueStats]:
        """Every pool's lag, reading only the pools that can have moved (and listing a
        stream's consumers rather than asking for each when many have); or just `pools`
        (a wake-up's few), each asked for by itself."""
        if not self._nc.is_connected:
            raise SourceError("NATS disconnected (reconnecting)")
        now = self._clock()
        if pools is None:
            await asyncio.gather(*(self._read_stream(s, now) for s in self._streams))
            await self._read_oldest()
        else:  # a wake-up is one request a pool: its oldest task waits for the next full read
            await asyncio.gather(*(self._read_one(p, now, UNKNOWN) for p in pools))
        return self._answer(pools, self._clock())

    async def _read_stream(self, stream: str, now: float) -> None:
        subjects = self._streams[stream].subjects
        counts = await subject_counts(self._nc, stream, self._timeout)
        if counts is None:  # as consumer info answers for a consumer of no stream
            for pool in subjects:
                self._record(pool, QueueStats(0, 0, stale=self._not_found(pool)), now, 0)
            return
        ones: Collection[str] = self._streams[stream].moved(counts, self._arrived, now)
        total, limit = self._paging[stream]
        if list_instead(len(ones), max(total, len(subjects))):
            listed = await self._list(stream, range(0, 1), counts, now, ())
            total, limit = self._paging[stream]
            listed |= await self._list(stream, range(limit, total, limit), counts, now, ())
            self._rotation[stream] = Rotation(0, now)
            # Not listed: no such consumer, or the listing shifted (a consumer added or
            # deleted between pages). Asked for by itself, it says which.
            ones = [pool for pool in subjects if pool not in listed]
            pages: Collection[int] = ()
        else:
            pages, self._rotation[stream] = next_pages(self._rotation[stream], total, limit, now)
        await asyncio.gather(
            *(self._read_one(pool, now, counts.get(subjects[pool], 0)) for pool in ones),
            self._list(stream, pages, counts, now, set(ones)),
        )

    async def _list(
        self,
        stream: str,
        offsets: Collection[int],
        counts: Mapping[str, int],
        now: float,
        skip: Collection[str],
    ) -> set[str]:
        """Record the lag of the configured pools on these pages (except `skip`, read by
        themselves this tick); consumers the config does not name are ignored."""
        if not offsets:
            return set()
        pages = await asyncio.gather(
            *(consumer_page(self._nc, stream, offset, self._timeout) for offset in offsets)
        )
        pool_of = self._consumers[stream]
        subjects = self._streams[stream].subjects
        listed = set()
        for page in pages:
            self._paging[stream] = (page.total, page.limit or 256)
            for info in page.consumers or ():
                pool = pool_of.get(info.name)
                if pool is None or pool in skip:
                    continue
                listed.add(pool)
                stats = QueueStats(info.num_pending, info.num_ack_pending)
                count = counts.get(subjects[pool], 0)
                self._record(pool, stats, now, count, info.delivered)
        return listed

    async def _read_one(self, pool: str, now: float, count: int) -> None:
        queue = self._config.pools[pool].queue
        async with self._limit:
            info = await consumer_lag(self._nc, queue.stream, queue.consumer, self._timeout)
        if info is None:
            self._record(pool, QueueStats(0, 0, stale=self._not_found(pool)), now, count)
            return
        stats = QueueStats(info.num_pending, info.num_ack_pending)
        self._record(pool, stats, now, count, info.delivered)

    def _record(
        self,
        pool: str,
        stats: QueueStats,
        now: float,
        count: int,
        delivered: Delivered | None = None,
    ) -> None:
        """The pool's consumer as read (`delivered` None: not found, no answer)."""
        pending = stats.pending
        unread = self._seen.unread[pool]
        consumer = None
        if delivered is not None:
            consumer = Consumer(pending=pending, delivered=delivered.consumer_seq)
        refuted = self._seen.read(pool, consumer)
        self._refused.note(pool, refused=refuted, stored=self._seen.stored[pool], now=now)
        if refuted:
            why = (
                f"{pool}: seen on its subject, not in its consumer (a duplicate Nats-Msg-Id, "
                "as a producer's retry sends, or a publish the stream refused): left out of "
                "its arrival rate"
            )
            self._bad.drop("unstored", why, count=refuted, about=pool)
            self._unrated.add(pool)  # its rate falls now, whatever its lag does
        if not self._seen.waiting(pool):
            self._arrived.discard(pool)
        if pool in self._idle and pending < unread and pending == 0:
            # Seen on the subject but not yet in the consumer's count (its info can lag a
            # publish by a moment): with no replicas to take it, one is lag all the same, and
            # wakes the pool. Only one: the subject also shows what JetStream never stores (a
            # duplicate Nats-Msg-Id, a refused publish), and 300 copies of one task took an
            # idle pool to its max_replicas; the rest show in the consumer's next read.
            pending = 1
        stream_seq = delivered.stream_seq if delivered is not None else 0
        oldest = self._oldest.note(pool, pending=pending, delivered=stream_seq)
        fresh = QueueStats(pending, stats.ack_pending, stale=stats.stale, oldest_at=oldest)
        self._streams[self._stream_of[pool]].record(pool, count, now)
        if self._stats.get(pool) != fresh:  # the same again (the rotation's usual read) is
            self._stats[pool] = fresh  # answered as before: its rate moves by arrivals only
            self._unrated.add(pool)

    async def _read_oldest(self) -> None:
        """Add the time of the oldest pending task to the readings that lack it."""
        for pool, at in (await self._oldest.read()).items():
            stats = self._stats.get(pool)
            if stats is not None and stats.pending and stats.oldest_at != at:
                self._stats[pool] = replace(stats, oldest_at=at)
                self._unrated.add(pool)

    def _not_found(self, pool: str) -> str:
        queue = self._config.pools[pool].queue
        return f"consumer {queue.stream}/{queue.consumer} not found"

    def _answer(self, pools: Collection[str] | None, now: float) -> dict[str, QueueStats]:
        """Each pool's lag (or just `pools`'), with the arrivals in the last RATE_WINDOW_S over
        that window (over the time since the subscription began, until it spans a window;
        unknown without a subscription)."""
        span = min(now - self._started, RATE_WINDOW_S) if self._started is not None else 0.0
        if (span > 0) != self._spanned:  # every rate goes from unknown to known
            self._spanned = span > 0
            self._unrated.update(self._stats)
        for pool in self._unrated:
            self._seen.times[pool].expire(now - RATE_WINDOW_S)
            stats = self._stats.get(pool)
            if stats is not None:
                rate = self._seen.counted(pool) / span if span > 0 else None
                self._rated[pool] = QueueStats(
                    stats.pending, stats.ack_pending, rate, stats.stale, stats.oldest_at
                )
        # a pool with arrivals left in the window: its rate changes as they leave it
        self._unrated = {pool for pool in self._unrated if self._seen.times[pool]}
        if pools is not None:
            return {name: self._rated[name] for name in pools}
        if not self._ordered:  # every pool has an answer now: from here on, in this order
            self._rated = {name: self._rated[name] for name in self._config.pools}
            self._ordered = True
        return dict(self._rated)
