"""Queue lag from NATS JetStream, and the wake-up that makes scale-from-zero immediate.

Lag per pool is what KEDA's nats-jetstream scaler reads: the pool's durable consumer's
num_pending + num_ack_pending (consumer info, one request per pool, run concurrently).

Arrivals are counted by a plain subscription to each pool's subject: JetStream stores the
message and the subscription sees it at the same moment. That gives the arrival rate (tasks
that arrived in the last RATE_WINDOW_S, over that window: it depends on when tasks came, not
on when the loop happened to read) and, for a pool at zero replicas, wakes the loop at once
instead of at its next tick (KEDA waits for its next poll, 30 s by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from controller.config import Config
from controller.sources import RATE_WINDOW_S, QueueStats, SourceError


class JetStreamLagSource:
    def __init__(
        self,
        nc: Client,
        config: Config,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 2.0,
        concurrency: int = 32,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=timeout)
        self._config = config
        self._clock = clock
        self._timeout = timeout
        self._limit = asyncio.Semaphore(concurrency)
        self._pool_of = {config.subject(name): name for name in config.pools}
        self._unread = dict.fromkeys(config.pools, 0)
        self._arrivals: dict[str, deque[float]] = {p: deque() for p in config.pools}
        """Per pool, when each task in the rate window arrived."""
        self._started: float | None = None
        self._idle: set[str] = set()
        self._wake: Callable[[str], None] | None = None
        self._subscriptions: list[Any] = []

    async def start(self) -> None:
        self._started = self._clock()
        for subject in self._pool_of:
            self._subscriptions.append(await self._nc.subscribe(subject, cb=self._on_task))

    async def stop(self) -> None:
        for sub in self._subscriptions:
            with contextlib.suppress(nats.errors.Error):  # the connection may be gone already
                await sub.unsubscribe()
        self._subscriptions.clear()

    def watch_idle(self, idle: set[str], wake: Callable[[str], None]) -> None:
        self._idle = idle
        self._wake = wake

    async def _on_task(self, msg: Msg) -> None:
        pool = self._pool_of.get(msg.subject)
        if pool is None:
            return
        self._arrivals[pool].append(self._clock())
        self._unread[pool] += 1
        if pool in self._idle and self._wake is not None:
            self._wake(pool)

    async def read(self, pools: Collection[str] | None = None) -> Mapping[str, QueueStats]:
        if not self._nc.is_connected:
            raise SourceError("NATS disconnected (reconnecting)")
        names = list(self._config.pools if pools is None else pools)
        results = await asyncio.gather(*(self._read_one(n) for n in names))
        now = self._clock()
        stats = {}
        for name, result in zip(names, results, strict=True):
            stats[name] = self._with_rate(name, result, now)
        return stats

    async def _read_one(self, pool: str) -> QueueStats:
        queue = self._config.pools[pool].queue
        async with self._limit:
            try:
                info = await self._js.consumer_info(
                    queue.stream, queue.consumer, timeout=self._timeout
                )
            except nats.js.errors.NotFoundError:
                return QueueStats(0, 0, stale=f"consumer {queue.stream}/{queue.consumer} not found")
            except (nats.errors.Error, TimeoutError) as exc:
                raise SourceError(f"NATS: {type(exc).__name__}: {exc}".rstrip(": ")) from exc
        pending, ack_pending = info.num_pending or 0, info.num_ack_pending or 0
        unread, self._unread[pool] = self._unread[pool], 0
        if pool in self._idle and pending < unread:
            # Seen on the subject but not yet in the consumer's count (its info can lag a
            # publish by a moment): with no replicas to take them, they are lag all the same.
            pending = unread
        return QueueStats(pending, ack_pending)

    def _with_rate(self, pool: str, stats: QueueStats, now: float) -> QueueStats:
        """Arrivals in the last RATE_WINDOW_S over that window (over the time since the
        subscription began, until it spans a window; unknown without a subscription)."""
        arrivals = self._arrivals[pool]
        while arrivals and arrivals[0] <= now - RATE_WINDOW_S:
            arrivals.popleft()
        span = min(now - self._started, RATE_WINDOW_S) if self._started is not None else 0.0
        rate = len(arrivals) / span if span > 0 else None
        return QueueStats(stats.pending, stats.ack_pending, rate, stats.stale)


async def ensure_queues(nc: Client, config: Config, *, ack_wait: float = 30.0) -> None:
    """Create each stream (work-queue retention) and each pool's durable pull consumer, if
    missing. Idempotent; what exists is left as it is."""
    from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType

    js = nc.jetstream()
    streams: dict[str, list[str]] = {}
    for name, pool in config.pools.items():
        streams.setdefault(pool.queue.stream, []).append(config.subject(name))
    for stream, subjects in streams.items():
        try:
            await js.stream_info(stream)
        except nats.js.errors.NotFoundError:
            await js.add_stream(
                name=stream,
                subjects=subjects,
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
            )
    for name, pool in config.pools.items():
        try:
            await js.consumer_info(pool.queue.stream, pool.queue.consumer)
        except nats.js.errors.NotFoundError:
            await js.add_consumer(
                pool.queue.stream,
                ConsumerConfig(
                    durable_name=pool.queue.consumer,
                    filter_subject=config.subject(name),
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=ack_wait,
                    max_deliver=-1,
                ),
            )
