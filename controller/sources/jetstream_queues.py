"""The JetStream streams and consumers agentdash reads, read from the server and created where
missing (`agentdash queues`, the demo, the tests).

What is wanted and how it compares is decided in controller.sources.queue_plan; this module
asks the server and creates only what is missing: what exists is never changed. The lag of
those consumers is read by controller.sources.jetstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import nats.js.errors
from nats.aio.client import Client
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
)
from nats.js.client import JetStreamContext

from controller.core.config import Config
from controller.sources.queue_plan import (
    ACK_WAIT_S,
    DUPLICATE_WINDOW_S,
    STREAM_BYTES,
    ConsumerSpec,
    QueueCheck,
    QueueSpec,
    StreamSpec,
    check_consumer,
    check_stream,
    covers,
    queue_specs,
    size,
)
from controller.sources.stranded_tasks import stranded
from controller.sources.stream_consumers import StreamConsumer, stream_consumers

SETUP_CALLS = 16
"""Consumers checked or created at once: one request after another, 10,000 pools take about
88 s (measured on this project's machine)."""


async def check_queues(
    nc: Client,
    config: Config,
    *,
    ack_wait: float = ACK_WAIT_S,
    max_bytes: int = STREAM_BYTES,
    timeout: float = 5.0,
) -> list[QueueCheck]:
    """What exists against what `queue_specs` wants. A server that does not answer raises
    nats.errors.Error or TimeoutError."""
    js = nc.jetstream(timeout=timeout)
    now = datetime.now(UTC)  # a consumer paused until later delivers nothing now
    specs = queue_specs(config, ack_wait=ack_wait, max_bytes=max_bytes)
    subjects: dict[str, list[str]] = {}  # of each stream that exists

    async def check_one_stream(spec: StreamSpec) -> QueueCheck:
        try:
            info = await js.stream_info(spec.name)
        except nats.js.errors.NotFoundError:
            return QueueCheck(spec, "missing")
        subjects[spec.name] = list(info.config.subjects or [])
        check = check_stream(spec, info.config)
        left = await stranded(js, spec.name, spec.subjects) if info.state.messages else None
        if left is None:
            return check
        return QueueCheck(check.spec, "differs", (*check.details, left))

    async def check_one_consumer(spec: ConsumerSpec) -> QueueCheck:
        try:
            existing = (await js.consumer_info(spec.stream, spec.durable)).config
        except nats.js.errors.NotFoundError:  # the stream or the consumer
            existing = None
        return check_consumer(spec, existing, now=now, stream_subjects=subjects.get(spec.stream))

    streams = await _each([s for s in specs if isinstance(s, StreamSpec)], check_one_stream)
    consumers = [s for s in specs if isinstance(s, ConsumerSpec)]
    return [*streams, *await _each(consumers, check_one_consumer)]


async def create_missing(
    nc: Client, checks: list[QueueCheck], *, timeout: float = 5.0
) -> list[QueueCheck]:
    """Create what is missing, streams first; leave everything else as it is. A refusal (a
    subject another stream holds, no permission) fails that one and the rest go on; the
    consumers of a stream not created are not asked for."""
    js = nc.jetstream(timeout=timeout)

    async def create(check: QueueCheck) -> QueueCheck:
        if check.state != "missing":
            return check
        if check.blocked:
            why = f"not created: {check.blocked}, then run this again"
            return QueueCheck(check.spec, "failed", (why,))
        if isinstance(check.spec, ConsumerSpec) and check.spec.stream in unmade:
            why = f"not created: stream {check.spec.stream} was not created"
            return QueueCheck(check.spec, "failed", (why,))
        try:
            await _create(js, check.spec)
            return QueueCheck(check.spec, "created")
        except nats.js.errors.APIError as exc:
            reason = exc.description or f"error {exc.err_code}"
            if isinstance(check.spec, StreamSpec) and exc.err_code == SUBJECTS_OVERLAP:
                reason += await _holders(js, check.spec)
            if isinstance(check.spec, StreamSpec) and exc.err_code in BEYOND_ACCOUNT:
                reason += await _account_limit(js, check.spec, exc.err_code)
            if isinstance(check.spec, ConsumerSpec) and exc.err_code == SUBJECT_TAKEN:
                reason += await takers.of(check.spec)
            return QueueCheck(check.spec, "failed", (f"the server refused: {reason}",))

    unmade: set[str] = set()
    takers = _Takers(js)
    done = {id(c): await create(c) for c in checks if isinstance(c.spec, StreamSpec)}
    unmade.update(
        c.spec.name for c in done.values() if isinstance(c.spec, StreamSpec) and c.state == "failed"
    )
    consumers = [c for c in checks if not isinstance(c.spec, StreamSpec)]
    done.update(zip(map(id, consumers), await _each(consumers, create), strict=True))
    return [done[id(c)] for c in checks]


SUBJECTS_OVERLAP = 10065
"""JetStream's error code for a stream whose subjects another stream of the account holds."""
SUBJECT_TAKEN = 10100
"""JetStream's error code for a consumer whose subject another consumer of the work-queue
stream already takes (each of its subjects goes to one consumer)."""
TOO_MANY_CONSUMERS = 10026
NO_STORAGE_LEFT = 10047
BEYOND_ACCOUNT = (TOO_MANY_CONSUMERS, NO_STORAGE_LEFT)
"""JetStream's error codes for a stream that asks more than its account's limits allow."""
HOLDERS_ASKED = 20
"""Subjects whose stream is looked up when a stream cannot be made for them: enough to name
the stream in the way, without a request for each of 10,000 pools."""


async def _holders(js: JetStreamContext, spec: StreamSpec) -> str:
    """` (stream LEGACY takes a, b)`: which streams hold the spec's subjects."""
    asked = spec.subjects[:HOLDERS_ASKED]

    async def holder(subject: str) -> str:
        try:
            return await js.find_stream_name_by_subject(subject)
        except nats.js.errors.NotFoundError:
            return ""

    held: dict[str, list[str]] = {}
    for subject, stream in zip(asked, await _each(list(asked), holder), strict=True):
        if stream:
            held.setdefault(stream, []).append(subject)
    said = "; ".join(f"stream {name} takes {', '.join(subs)}" for name, subs in held.items())
    more = len(spec.subjects) - len(asked)
    if said and more > 0:
        said += f"; {more} more subjects not looked up"
    return f" ({said})" if said else ""


async def _account_limit(js: JetStreamContext, spec: StreamSpec, code: int) -> str:
    """` (the stream asks for 8G; the account's JetStream has 1G ... left: ...)`: which of the
    account's limits the stream is beyond, and what to change; nothing if it cannot be read."""
    try:
        account = await js.account_info()
    except nats.js.errors.APIError:
        return ""
    limits = account.limits
    if code == TOO_MANY_CONSUMERS and limits.max_consumers > 0:
        return (
            f" (the stream asks room for {spec.max_consumers} consumers; the account's "
            f"JetStream allows {limits.max_consumers} in all: raise its max_consumers)"
        )
    if code == NO_STORAGE_LEFT and limits.max_storage > 0:
        left = max(0, limits.max_storage - account.storage)
        shown = size(left) if size(left) != str(left) else f"{left:,} bytes"
        return (
            f" (the stream asks for {size(spec.max_bytes)}; the account's JetStream has "
            f"{shown} of file storage left: --max-bytes of at most that, or a larger max_file)"
        )
    return ""


class _Takers:
    """The consumers of a stream that take a pool's subject: its consumers are listed once a
    stream, however many of its pools were refused (256 an answer)."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._listed: dict[str, asyncio.Task[list[StreamConsumer]]] = {}

    async def of(self, spec: ConsumerSpec) -> str:
        """` (consumer legacy takes agent_tasks.>)`, or nothing if none is found."""
        if spec.stream not in self._listed:
            self._listed[spec.stream] = asyncio.create_task(stream_consumers(self._js, spec.stream))
        named = [
            f"consumer {c.name} takes {', '.join(c.filters) or 'every subject'}"
            for c in await self._listed[spec.stream]
            if c.name != spec.durable
            and (not c.filters or any(covers(f, spec.filter_subject) for f in c.filters))
        ]
        return f" ({'; '.join(named)})" if named else ""


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
            max_bytes=spec.max_bytes,
            discard=DiscardPolicy.NEW,  # full, it tells the publisher; it never drops a task
            max_consumers=spec.max_consumers,
            duplicate_window=DUPLICATE_WINDOW_S,  # the window producers are told of
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
    nc: Client,
    config: Config,
    *,
    ack_wait: float = ACK_WAIT_S,
    max_bytes: int = STREAM_BYTES,
    vet: Callable[[list[QueueCheck]], None] | None = None,
) -> list[QueueCheck]:
    """Create each stream and each pool's consumer, if missing. Idempotent; what exists is
    left as it is (even if it differs: see the checks returned). A refusal raises. `vet`
    sees what exists before anything is made, and may refuse it by raising."""
    found = await check_queues(nc, config, ack_wait=ack_wait, max_bytes=max_bytes)
    if vet is not None:
        vet(found)
    checks = await create_missing(nc, found)
    for check in checks:
        if check.state == "failed":
            raise QueueError(f"{check.spec.label}: {check.details[0]}")
    return checks


class QueueError(Exception):
    """The server would not create a stream or a consumer agentdash needs."""
