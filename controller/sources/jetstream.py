"""Queue lag from NATS JetStream, and the wake-up that makes scale-from-zero immediate.

Lag per pool is what KEDA's nats-jetstream scaler reads: the pool's durable consumer's
num_pending + num_ack_pending. It is read a stream at a time (controller.sources.jetstream_api): on
each tick, one request says how many tasks each subject holds, and only the pools whose count
moved (or whose subject saw a task) are read again, by themselves or, when many moved, by
listing the stream's consumers 256 an answer; every pool is re-read within REREAD_EVERY_S
besides. A wake-up's few pools are read by themselves, at once.

Arrivals are counted by a plain subscription to each pool's subject: JetStream stores the
message and the subscription sees it at the same moment. That gives the arrival rate (tasks
that arrived in the last RATE_WINDOW_S, over that window: it depends on when tasks came, not
on when the loop happened to read) and, for a pool at zero replicas, wakes the loop at once
instead of at its next tick (KEDA waits for its next poll, 30 s by default).

The streams and consumers themselves are the operator's (`agentdash queues` makes them):
`queue_specs` says what agentdash expects, `check_stream` / `check_consumer` compare it with
what exists, field by field, and `ensure_queues` creates only what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext

from controller.core.accounting import RATE_WINDOW_S
from controller.core.config import Config
from controller.core.model import QueueStats, SourceError
from controller.sources.jetstream_api import (
    Reads,
    Rotation,
    consumer_lag,
    consumer_page,
    list_instead,
    next_pages,
    subject_counts,
)

UNKNOWN = -1
"""The subject's count of a pool read by itself on a wake-up: the next full read reads it
again (one request) rather than trust a count it did not take."""


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
        self._config = config
        self._clock = clock
        self._timeout = timeout
        self._limit = asyncio.Semaphore(concurrency)
        self._pool_of = {config.subject(name): name for name in config.pools}
        self._unread = dict.fromkeys(config.pools, 0)
        self._arrived: set[str] = set()
        """The pools with an arrival unread (`_unread` above 0): a tick looks at these, not
        at every pool."""
        self._arrivals: dict[str, deque[float]] = {p: deque() for p in config.pools}
        """Per pool, when each task in the rate window arrived."""
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
        self._unrated.add(pool)
        self._unread[pool] += 1
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
        else:
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
                self._record(pool, stats, now, counts.get(subjects[pool], 0))
        return listed

    async def _read_one(self, pool: str, now: float, count: int) -> None:
        queue = self._config.pools[pool].queue
        async with self._limit:
            info = await consumer_lag(self._nc, queue.stream, queue.consumer, self._timeout)
        if info is None:
            self._record(pool, QueueStats(0, 0, stale=self._not_found(pool)), now, count)
            return
        self._record(pool, QueueStats(info.num_pending, info.num_ack_pending), now, count)

    def _record(self, pool: str, stats: QueueStats, now: float, count: int) -> None:
        pending = stats.pending
        unread, self._unread[pool] = self._unread[pool], 0
        self._arrived.discard(pool)
        if pool in self._idle and pending < unread:
            # Seen on the subject but not yet in the consumer's count (its info can lag a
            # publish by a moment): with no replicas to take them, they are lag all the same.
            pending = unread
        fresh = QueueStats(pending, stats.ack_pending, stale=stats.stale)
        self._streams[self._stream_of[pool]].record(pool, count, now)
        if self._stats.get(pool) != fresh:  # the same again (the rotation's usual read) is
            self._stats[pool] = fresh  # answered as before: its rate moves by arrivals only
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
            arrivals = self._arrivals[pool]
            while arrivals and arrivals[0] <= now - RATE_WINDOW_S:
                arrivals.popleft()
            stats = self._stats.get(pool)
            if stats is not None:
                rate = len(arrivals) / span if span > 0 else None
                self._rated[pool] = QueueStats(stats.pending, stats.ack_pending, rate, stats.stale)
        # a pool with arrivals left in the window: its rate changes as they leave it
        self._unrated = {pool for pool in self._unrated if self._arrivals[pool]}
        if pools is not None:
            return {name: self._rated[name] for name in pools}
        if not self._ordered:  # every pool has an answer now: from here on, in this order
            self._rated = {name: self._rated[name] for name in self._config.pools}
            self._ordered = True
        return dict(self._rated)


# What agentdash expects in JetStream, compared with what is there, and created where missing
# (`agentdash queues`, the demo, the tests). Deciding is pure; reading and creating are thin.

ACK_WAIT_S = 30.0
"""How long a task may stay unacked before JetStream gives it to another worker."""
UNLIMITED = -1
SERVER_MAX_CONSUMERS = 1000
"""What nats-server (2.15 on) lets a stream hold when its max_consumers is unset or -1: its
`jetstream { limits { default_max_consumers } }`, 1,000 unless set. The stream's own
max_consumers, when positive, is what counts instead."""


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A stream holding its pools' subjects, each task kept until a worker acks it."""

    name: str
    subjects: tuple[str, ...]
    """One a pool, each read by that pool's consumer."""

    @property
    def max_consumers(self) -> int:
        """Twice its pools' consumers (room for pools added later and for an operator's own
        consumers), and never below what the server would allow anyway."""
        return max(SERVER_MAX_CONSUMERS, 2 * len(self.subjects))

    @property
    def label(self) -> str:
        return f"stream {self.name}"

    def describe(self) -> str:
        return (
            f"subjects {', '.join(self.subjects)}; retention workqueue; storage file; "
            f"max consumers {self.max_consumers}"
        )


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """A pool's durable pull consumer: its workers fetch from it and ack each task."""

    pool: str
    stream: str
    durable: str
    filter_subject: str
    ack_wait: float
    max_ack_pending: int
    max_deliver: int = UNLIMITED

    @property
    def label(self) -> str:
        return f"consumer {self.stream}/{self.durable} (pool {self.pool})"

    def describe(self) -> str:
        return (
            f"pull; filter {self.filter_subject}; ack explicit; "
            f"ack wait {_seconds(self.ack_wait)}; max ack pending {self.max_ack_pending}; "
            f"max deliver {_count(self.max_deliver)}"
        )


QueueSpec = StreamSpec | ConsumerSpec
QueueState = Literal["created", "in place", "missing", "differs", "failed"]


@dataclass(frozen=True, slots=True)
class QueueCheck:
    spec: QueueSpec
    state: QueueState
    details: tuple[str, ...] = ()
    """differs: `field: existing -> wanted`, one per field; failed: the server's answer."""


def queue_specs(config: Config, *, ack_wait: float = ACK_WAIT_S) -> list[QueueSpec]:
    """Each stream the pools name, then each pool's consumer (the order they are created in).

    max_ack_pending is max_replicas x concurrency: the most tasks the pool's workers can hold
    at once when it is at its largest. JetStream's default (1000) would cap a larger pool
    below what it was sized for, and a higher cap lets a worker that fetches more than it
    works on hoard tasks its idle neighbours could run. max_deliver is unlimited: a capped
    one stops delivering a task after that many tries, which loses it as surely as a delete.
    """
    subjects: dict[str, list[str]] = {}
    for name, pool in config.pools.items():
        subjects.setdefault(pool.queue.stream, []).append(config.subject(name))
    streams: list[QueueSpec] = [StreamSpec(s, tuple(subs)) for s, subs in subjects.items()]
    consumers: list[QueueSpec] = [
        ConsumerSpec(
            name,
            pool.queue.stream,
            pool.queue.consumer,
            config.subject(name),
            ack_wait,
            pool.max_replicas * pool.concurrency,
        )
        for name, pool in config.pools.items()
    ]
    return streams + consumers


def check_stream(spec: StreamSpec, existing: StreamConfig | None) -> QueueCheck:
    if existing is None:
        return QueueCheck(spec, "missing")
    have = list(existing.subjects or [])
    uncovered = [s for s in spec.subjects if not any(_covers(p, s) for p in have)]
    # Messages that expire, or a full stream that discards its oldest, drop tasks nobody
    # ran; a full stream that refuses new ones tells the publisher instead. With no limit
    # set, the stream is never full and its discard policy does not matter.
    limits = (existing.max_msgs, existing.max_bytes, existing.max_msgs_per_subject)
    discard = _value(existing.discard) if any((n or 0) > 0 for n in limits) else "new"
    return _compared(
        spec,
        {
            # a wildcard (`agent_tasks.>`) that takes every pool's subject is as good
            "subjects": (_list(have) or "none", _list(have + uncovered)),
            "retention": (_value(existing.retention), "workqueue"),
            "storage": (_value(existing.storage), "file"),
            "max_age": (_seconds(existing.max_age) if existing.max_age else "none", "none"),
            "discard": (discard, "new"),
            "max_consumers": _max_consumers(spec, existing.max_consumers),
        },
    )


def _max_consumers(spec: StreamSpec, limit: int | None) -> tuple[str, str]:
    """Enough when its pools' consumers fit; a positive limit is the stream's, any other the
    server's default."""
    have = str(limit) if limit and limit > 0 else f"unset (the server's {SERVER_MAX_CONSUMERS})"
    enough = (limit if limit and limit > 0 else SERVER_MAX_CONSUMERS) >= len(spec.subjects)
    return have, have if enough else str(spec.max_consumers)


def check_consumer(spec: ConsumerSpec, existing: ConsumerConfig | None) -> QueueCheck:
    if existing is None:
        return QueueCheck(spec, "missing")
    filters = existing.filter_subjects or [existing.filter_subject or ""]
    return _compared(
        spec,
        {
            "deliver_subject": (existing.deliver_subject or "none (pull)", "none (pull)"),
            "filter_subject": (_list(filters) or "none (every subject)", spec.filter_subject),
            "ack_policy": (_value(existing.ack_policy), "explicit"),
            # the server keeps nanoseconds: to the millisecond, as anyone would set it
            "ack_wait": (_seconds(existing.ack_wait or 0.0), _seconds(spec.ack_wait)),
            "backoff": (_list(map(_seconds, existing.backoff or [])) or "none", "none"),
            "max_ack_pending": (_count(existing.max_ack_pending), _count(spec.max_ack_pending)),
            "max_deliver": (_count(existing.max_deliver), _count(spec.max_deliver)),
        },
    )


def _compared(spec: QueueSpec, fields: Mapping[str, tuple[str, str]]) -> QueueCheck:
    """`field: existing -> wanted` for each field that is not as wanted."""
    details = tuple(f"{name}: {have} -> {want}" for name, (have, want) in fields.items()
                    if have != want)  # fmt: skip
    return QueueCheck(spec, "differs" if details else "in place", details)


def _covers(pattern: str, subject: str) -> bool:
    """Whether a stream subject (perhaps with `*` or `>`) takes messages on `subject`."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or token not in ("*", have[i]):
            return False
    return len(want) == len(have)


def _value(policy: Any) -> str:
    return str(getattr(policy, "value", policy)) if policy is not None else "none"


def _count(n: int | None) -> str:
    return "unlimited" if n is None or n < 0 else str(n)


def _seconds(value: float) -> str:
    return f"{round(value, 3):g} s"


def _list(items: Iterable[str]) -> str:
    return ", ".join(i for i in items if i)


SETUP_CALLS = 16
"""Consumers checked or created at once: 10,000 pools one request after another took 88 s."""


async def check_queues(
    nc: Client, config: Config, *, ack_wait: float = ACK_WAIT_S, timeout: float = 5.0
) -> list[QueueCheck]:
    """What exists against what `queue_specs` wants. A server that does not answer raises
    nats.errors.Error or TimeoutError."""
    js = nc.jetstream(timeout=timeout)

    async def check(spec: QueueSpec) -> QueueCheck:
        try:
            if isinstance(spec, StreamSpec):
                return check_stream(spec, (await js.stream_info(spec.name)).config)
            info = await js.consumer_info(spec.stream, spec.durable)
            return check_consumer(spec, info.config)
        except nats.js.errors.NotFoundError:  # the stream or the consumer
            return QueueCheck(spec, "missing")

    return await _each(queue_specs(config, ack_wait=ack_wait), check)


async def create_missing(
    nc: Client, checks: list[QueueCheck], *, timeout: float = 5.0
) -> list[QueueCheck]:
    """Create what is missing, streams first; leave everything else as it is. A refusal (a
    subject another stream holds, no permission) fails that one and the rest go on."""
    js = nc.jetstream(timeout=timeout)

    async def create(check: QueueCheck) -> QueueCheck:
        if check.state != "missing":
            return check
        try:
            await _create(js, check.spec)
            return QueueCheck(check.spec, "created")
        except nats.js.errors.APIError as exc:
            reason = exc.description or f"error {exc.err_code}"
            return QueueCheck(check.spec, "failed", (f"the server refused: {reason}",))

    done = {id(c): await create(c) for c in checks if isinstance(c.spec, StreamSpec)}
    consumers = [c for c in checks if not isinstance(c.spec, StreamSpec)]
    done.update(zip(map(id, consumers), await _each(consumers, create), strict=True))
    return [done[id(c)] for c in checks]


T = TypeVar("T")
R = TypeVar("R")


async def _each(items: list[T], call: Callable[[T], Awaitable[R]]) -> list[R]:
    """`call` on each item, SETUP_CALLS at a time; the answers in the items' order."""
    limit = asyncio.Semaphore(SETUP_CALLS)

    async def bounded(item: T) -> R:
        async with limit:
            return await call(item)

    return list(await asyncio.gather(*(bounded(item) for item in items)))


async def _create(js: JetStreamContext, spec: QueueSpec) -> None:
    if isinstance(spec, StreamSpec):
        await js.add_stream(
            name=spec.name,
            subjects=list(spec.subjects),
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            max_consumers=spec.max_consumers,
        )
        return
    await js.add_consumer(
        spec.stream,
        ConsumerConfig(
            durable_name=spec.durable,
            filter_subject=spec.filter_subject,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=spec.ack_wait,
            max_ack_pending=spec.max_ack_pending,
            max_deliver=spec.max_deliver,
        ),
    )


async def ensure_queues(
    nc: Client, config: Config, *, ack_wait: float = ACK_WAIT_S
) -> list[QueueCheck]:
    """Create each stream and each pool's consumer, if missing. Idempotent; what exists is
    left as it is (even if it differs: see the checks returned). A refusal raises."""
    checks = await create_missing(nc, await check_queues(nc, config, ack_wait=ack_wait))
    for check in checks:
        if check.state == "failed":
            raise QueueError(f"{check.spec.label}: {check.details[0]}")
    return checks


class QueueError(Exception):
    """The server would not create a stream or a consumer agentdash needs."""
