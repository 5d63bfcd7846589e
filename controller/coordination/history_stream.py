"""The leader's event history in JetStream, so a dashboard that attaches later sees it.

The leader appends its scale events, health changes and operator actions (ticks are not
history: the decisions message carries them) to the stream `AGENTDASH_EVENTS`, subject
`agentdash.events`, one compact JSON message an event. A process that does not lead appends
only the operator actions taken there, and the end of a failure it told while it led (a
source that recovers before the lease is renewed, as NATS comes back); a --read-only one
appends nothing. The stream is
bounded (24 h, MAX_MSGS, MAX_BYTES, file storage) and made by the first process that writes
to it, if missing.

Publishing never holds up the tick: `HistoryPublisher.offer` only appends to a bounded buffer
that a task of its own drains. While NATS is away the buffer waits and is retried; an event
that finds it full is counted (`agentdash_events_unpublished_total`) and logged, never lost
without a word. Retries carry a message id, so JetStream keeps one copy of an event whose
first attempt did land.

A dashboard's `HistoryReader` replays the recent history (the last REPLAY_MAX events of the
last MAX_AGE_S, whichever are fewer), then follows new events live. Each message is validated
(`EventMessage`: bounded fields); one that fails is counted in
`agentdash_bad_messages_total{source="events"}` (controller.core.bad_messages) and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy, DiscardPolicy, StorageType, StreamConfig
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import Field, TypeAdapter, ValidationError

from controller.coordination.wire import Name, Replicas, _ReasonWire, _Wire
from controller.core.bad_messages import BadMessages, describe
from controller.core.events import ActionEvent, Event, EventBus, HealthEvent, ScaleEvent, TickEvent
from controller.core.model import Reason

log = logging.getLogger("agentdash.history_stream")

STREAM = "AGENTDASH_EVENTS"
SUBJECT = "agentdash.events"
MAX_AGE_S = 24 * 3600.0
MAX_MSGS = 100_000
MAX_BYTES = 64 * 1024 * 1024
MAX_MSG_BYTES = 256 * 1024
"""Any message within the readers' bounds fits (a hundred reasons of TEXT_CHARS)."""
REPLAY_MAX = 5000
"""Events a dashboard replays at most (its Events log keeps as many)."""
REPLAY_WAIT_S = 5.0
"""How long a dashboard waits for its replay before it shows what it has."""
BUFFER = 10_000
"""Events waiting to be published; beyond this (a long NATS outage), new ones are counted."""
PUBLISH_TIMEOUT_S = 2.0
MAX_BACKOFF_S = 5.0
RETRY_STREAM_S = 5.0
"""How often a dashboard looks again for a stream no leader has made yet."""
TEXT_CHARS = 2000
"""Free text (a reason's detail, a health detail) is cut to this before it is published, so
that no message a leader writes fails a reader's bounds."""

Timestamp = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Text = Annotated[str, Field(max_length=TEXT_CHARS)]


class _ScaleWire(_Wire):
    type: Literal["scale", "dry-run"]
    """A dry-run's would-be change may be typed apart (and still carry dry_run)."""
    ts: Timestamp
    pool: Name
    old: Replicas = Field(alias="from")
    to: Replicas
    reasons: Annotated[list[_ReasonWire], Field(max_length=100)]
    dry_run: bool = False


class _HealthWire(_Wire):
    type: Literal["health"]
    ts: Timestamp
    source: Annotated[str, Field(min_length=1, max_length=300)]
    ok: bool
    detail: Text


class _ActionWire(_Wire):
    type: Literal["action"]
    ts: Timestamp
    who: Annotated[str, Field(max_length=253)]
    action: Annotated[str, Field(min_length=1, max_length=100)]
    target: Annotated[str, Field(max_length=300)]
    detail: Text = ""


EventMessage: TypeAdapter[_ScaleWire | _HealthWire | _ActionWire] = TypeAdapter(
    Annotated[_ScaleWire | _HealthWire | _ActionWire, Field(discriminator="type")]
)
"""What a message on agentdash.events must be (it crosses a process boundary)."""


def encode(event: ScaleEvent | HealthEvent | ActionEvent) -> bytes:
    """The event as compact JSON, its free text cut to the readers' bounds."""
    record = event.as_dict()
    if isinstance(event, ScaleEvent):
        del record["direction"]  # implied by from and to
        for reason in record["reasons"]:
            reason["detail"] = reason["detail"][:TEXT_CHARS]
    else:
        record["detail"] = record["detail"][:TEXT_CHARS]
    return json.dumps(record, separators=(",", ":")).encode()


def decode(data: bytes) -> Event:
    """The event a message holds. Raises ValidationError for anything else."""
    wire = EventMessage.validate_json(data)
    if isinstance(wire, _ScaleWire):
        reasons = tuple(Reason(rule=r.rule, template=r.detail) for r in wire.reasons)
        dry_run = wire.dry_run or wire.type == "dry-run"
        return ScaleEvent(wire.ts, wire.pool, wire.old, wire.to, reasons, dry_run)
    if isinstance(wire, _HealthWire):
        return HealthEvent(wire.ts, wire.source, wire.ok, wire.detail)
    return ActionEvent(wire.ts, wire.who, wire.action, wire.target, wire.detail)


def stream_config() -> StreamConfig:
    return StreamConfig(
        name=STREAM,
        subjects=[SUBJECT],
        storage=StorageType.FILE,
        max_age=MAX_AGE_S,
        max_msgs=MAX_MSGS,
        max_bytes=MAX_BYTES,
        max_msg_size=MAX_MSG_BYTES,
        discard=DiscardPolicy.OLD,
        duplicate_window=120.0,
    )


@dataclass(slots=True)
class RecordingBus(EventBus):
    """An EventBus that also hands every event to `record` (the history publisher)."""

    record: Callable[[Event], None] = lambda event: None

    def publish(self, event: Event) -> None:
        EventBus.publish(self, event)  # (a slots dataclass has no zero-argument super())
        self.record(event)


class HistoryPublisher:
    """Appends events to the stream from a task of its own; see the module."""

    def __init__(self, nc: Client, origin: str, *, size: int = BUFFER) -> None:
        self._js = nc.jetstream()
        self._size = size
        self._pending: deque[tuple[str, ScaleEvent | HealthEvent | ActionEvent]] = deque()
        self._ids: Iterator[int] = itertools.count(1)
        self._run_id = f"{origin}-{time.time_ns()}"
        """Message ids unique to this run, so a retry is deduplicated and nothing else is."""
        self._wake = asyncio.Event()
        self._sent = asyncio.Event()
        """Set while nothing waits to be published."""
        self._sent.set()
        self._task: asyncio.Task[None] | None = None
        self._stream_checked = False
        self._failing = False
        self.published = 0
        self.unpublished = 0
        """Events that found the buffer full: never in the stream."""
        self._failures_told: set[str] = set()
        """Sources whose failure this process told: their end is told too, leading or not.
        When NATS comes back the queue recovers in the tick before the lease is renewed."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._drain(), name="event history publisher")
        self._task.add_done_callback(_report_end)

    def offer(self, event: Event, leading: bool) -> None:
        """Queue an event for the stream if it is this process's to tell; never blocks."""
        if isinstance(event, TickEvent):
            return
        if isinstance(event, HealthEvent):
            ends_one_told = event.ok and event.source in self._failures_told
            if not (leading or ends_one_told):
                return
            if event.ok:
                self._failures_told.discard(event.source)
            else:
                self._failures_told.add(event.source)
        elif not (leading or isinstance(event, ActionEvent)):
            return
        if len(self._pending) >= self._size:
            self._lost(f"the buffer of {self._size} is full (NATS unreachable?)")
            return
        self._pending.append((f"{self._run_id}-{next(self._ids)}", event))
        self._sent.clear()
        self._wake.set()

    async def _drain(self) -> None:
        backoff = 0.0
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                msg_id, event = self._pending[0]
                try:
                    await self._publish(msg_id, event)
                    self.published += 1
                except nats.js.errors.BadRequestError as exc:  # refused for good: no retry
                    self._lost(f"the stream refused it: {exc.description}")
                except (nats.errors.Error, TimeoutError) as exc:
                    backoff = min(MAX_BACKOFF_S, max(0.25, backoff * 2))
                    if not self._failing:
                        log.warning(
                            "event history: cannot publish (%s); %d waiting, retrying",
                            type(exc).__name__,
                            len(self._pending),
                        )
                    self._failing = True
                    self._stream_checked = False  # deleted meanwhile? made again
                    await asyncio.sleep(backoff)  # NATS reconnects by itself meanwhile
                    continue
                self._pending.popleft()
                if not self._pending:
                    self._sent.set()
                if self._failing:
                    log.info("event history: publishing again")
                    self._failing, backoff = False, 0.0

    def _lost(self, why: str) -> None:
        """Count an event that will never be in the stream; say so, but not for each one."""
        self.unpublished += 1
        if self.unpublished == 1 or self.unpublished % 1000 == 0:
            log.warning(
                "event history: %d events not published so far; the last because %s",
                self.unpublished,
                why,
            )

    async def _publish(self, msg_id: str, event: ScaleEvent | HealthEvent | ActionEvent) -> None:
        if not self._stream_checked:
            await ensure_stream(self._js)
            self._stream_checked = True
        await self._js.publish(
            SUBJECT,
            encode(event),
            timeout=PUBLISH_TIMEOUT_S,
            stream=STREAM,
            headers={"Nats-Msg-Id": msg_id},
        )

    @property
    def waiting(self) -> int:
        return len(self._pending)

    async def stop(self, wait: float = PUBLISH_TIMEOUT_S) -> None:
        """Give what is waiting a moment to go out (the last lease change, say), then stop."""
        if not self._failing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sent.wait(), wait)
        if self._pending:
            self.unpublished += len(self._pending)
            log.warning("event history: %d events not published at exit", len(self._pending))
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def collector(self) -> Collector:
        return _UnpublishedCollector(self)


async def ensure_stream(js: Any) -> None:
    """Make the stream if missing. One that exists is left as it is (an operator may have
    changed its limits)."""
    try:
        await js.stream_info(STREAM)
    except nats.js.errors.NotFoundError:
        with contextlib.suppress(nats.js.errors.BadRequestError):  # another made it just now
            await js.add_stream(stream_config())


class _UnpublishedCollector(Collector):
    def __init__(self, publisher: HistoryPublisher) -> None:
        self._publisher = publisher

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "agentdash_events_unpublished",
            "Events that could not be appended to the event history stream",
        )
        family.add_metric([], self._publisher.unpublished)
        yield family


class HistoryReader:
    """Replays the stream's recent events, then follows it; see the module."""

    def __init__(
        self,
        nc: Client,
        *,
        bad: BadMessages | None = None,
        clock: Callable[[], float] = time.time,
        last: int = REPLAY_MAX,
        max_age: float = MAX_AGE_S,
        retry_s: float = RETRY_STREAM_S,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self.bad = bad or BadMessages()
        self._clock = clock
        self._last = last
        self._max_age = max_age
        self._retry_s = retry_s
        self._events: deque[Event] = deque(maxlen=last)
        """Read and not yet taken (a screen takes them twice a second)."""
        self._caught_up = asyncio.Event()
        self._until_seq = 0
        """The stream's last sequence when the replay began: reading it means caught up."""
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None

    async def start(self, wait: float = REPLAY_WAIT_S) -> None:
        """Start reading; return once the replay is read, or after `wait` (it goes on)."""
        self._task = asyncio.create_task(self._attach(), name="event history reader")
        self._task.add_done_callback(_report_end)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._caught_up.wait(), wait)

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    def take(self) -> list[Event]:
        """The events read since the last call, in stream order."""
        taken = list(self._events)
        self._events.clear()
        return taken

    async def _attach(self) -> None:
        """Subscribe from the right place once the stream exists (a leader makes it)."""
        while True:
            try:
                self._sub = await self._subscribe()
                return
            except nats.js.errors.NotFoundError:
                self._caught_up.set()  # nothing to replay yet
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("event history: cannot read the stream: %s", exc)
            await asyncio.sleep(self._retry_s)

    async def _subscribe(self) -> Any:
        info = await self._js.stream_info(STREAM)
        first, last = info.state.first_seq, info.state.last_seq
        start = max(first, last - self._last + 1, 1)
        self._until_seq = last
        if last < start:
            self._caught_up.set()
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
        return await self._js.subscribe(
            SUBJECT, stream=STREAM, cb=self._on_message, ordered_consumer=True, config=config
        )

    async def _on_message(self, msg: Msg) -> None:
        if msg.metadata.sequence.stream >= self._until_seq:
            self._caught_up.set()
        try:
            event = decode(msg.data)
        except ValidationError as exc:
            self.bad.drop("events", describe(exc))
            return
        if event.ts >= self._clock() - self._max_age:
            self._events.append(event)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %r", task.get_name(), task.exception())
