"""What the lag source asks JetStream in bulk, the answers checked before they are believed,
and the pure choice of which pools to read on a tick.

One `consumer_info` request per pool does not scale: 5,000 of them take about a second. Two
requests answer for a whole stream instead:
- the stream's info with `subjects_filter` gives how many tasks each subject holds, in one
  answer. On a work-queue stream that count moves whenever a task arrives or is acked, so it
  tells which pools can have moved since they were last read;
- listing the stream's consumers (`$JS.API.CONSUMER.LIST.<stream>`) gives 256 consumers'
  pending and ack pending an answer, where consumer info gives one.

nats-py's `consumers_info` drops the listing's `total` (so it cannot tell when to stop paging)
and, like its `consumer_info`, builds a full `ConsumerInfo` (config, sequences, cluster) per
consumer; the requests here read only what lag needs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, TypeVar

import nats.errors
from nats.aio.client import Client
from pydantic import AwareDatetime, BaseModel, Field, ValidationError, field_validator

from controller.core.config_errors import first_error
from controller.core.model import SourceError

API = "$JS.API"
"""nats-py's default JetStream API prefix, which the rest of agentdash uses too."""
NOT_FOUND = 404
"""An API error's code for a stream or consumer that does not exist (nats-py's NotFoundError)."""
REREAD_EVERY_S = 15.0
"""Every pool is read at least this often, moved or not. A pool's lag moves with its subject's
task count on a work-queue stream (a task arrives or is acked), which is read every tick; this
bounds only what moves no count: the lag's split when a worker takes a task (pending to ack
pending: the replicas counted at work) or its ack wait runs out, a consumer deleted or made
anew, and, on a stream that keeps acked tasks (`agentdash queues` flags it), a fall in lag,
which holds pods longer and never scales down. 15 s is the period the HPA itself reads its
metrics at (KEDA polls every 30 s). The listing goes round at this pace: at 5,000 pools, 1 or
2 pages of 256 a tick where 5 s cost 4, the most of a tick's read (benchmarks/lag_read.py)."""
EARLIEST, LATEST = 946_684_800.0, 4_102_444_800.0
"""2000-01-01 and 2100-01-01 UTC: a task stored outside them is a clock or an answer gone wrong."""
INFOS_PER_PAGE = 32
"""A page of 256 consumers costs about as much as this many single consumer_info requests
(benchmarks/lag_read.py): past that many moved pools a page, list the stream instead."""

Count = Annotated[int, Field(ge=0)]
StreamSeq = Annotated[int, Field(ge=0, le=2**64 - 1)]
"""A stream sequence number (JetStream's are unsigned 64-bit)."""


class _Model(BaseModel):
    """An answer's fields agentdash reads; the rest are ignored."""

    model_config = {"frozen": True}


class ApiError(_Model):
    code: int
    err_code: int = 0
    description: str = ""


class StreamState(_Model):
    subjects: dict[str, Count] | None = None
    """Tasks held per subject (only subjects holding some)."""


class StreamInfo(_Model):
    error: ApiError | None = None
    state: StreamState | None = None


class Delivered(_Model):
    stream_seq: StreamSeq = 0
    """The stream sequence of the last task the consumer delivered: its pending tasks come
    after it."""
    consumer_seq: StreamSeq = 0
    """The deliveries the consumer made, redeliveries included: with its pending tasks, what
    says how many tasks were stored for it (controller.sources.arrivals)."""


class ConsumerLag(_Model):
    name: str
    num_pending: Count = 0
    num_ack_pending: Count = 0
    delivered: Delivered = Delivered()


class ConsumerInfo(_Model):
    error: ApiError | None = None
    num_pending: Count = 0
    num_ack_pending: Count = 0
    delivered: Delivered = Delivered()


class StoredMessage(_Model):
    seq: StreamSeq
    time: AwareDatetime
    """When the stream stored it (the server's clock)."""

    @field_validator("time")
    @classmethod
    def _in_this_century(cls, value: datetime) -> datetime:
        if not EARLIEST <= value.timestamp() < LATEST:
            raise ValueError("a time from 2000 to 2100")
        return value


class StoredAnswer(_Model):
    error: ApiError | None = None
    message: StoredMessage | None = None


class ConsumerPage(_Model):
    error: ApiError | None = None
    total: Count = 0
    offset: Count = 0
    limit: Count = 0
    consumers: list[ConsumerLag] | None = None


Answer = TypeVar("Answer", StreamInfo, ConsumerInfo, ConsumerPage, StoredAnswer)


def parse(model: type[Answer], data: bytes, what: str) -> Answer:
    """An answer checked against `model`; one that is not JetStream's is a SourceError (the
    pools it feeds go stale, never down). A stream or consumer not found is the caller's to
    report (its `error` is set)."""
    try:
        answer = model.model_validate_json(data)
    except ValidationError as exc:
        path, expected = first_error(exc)
        raise SourceError(f"{what}: an answer agentdash cannot read: {path}: {expected}") from None
    if answer.error is not None and answer.error.code != NOT_FOUND:
        error = answer.error
        raise SourceError(f"{what}: {error.description or f'error {error.err_code}'}")
    return answer


async def request(nc: Client, subject: str, body: bytes, timeout: float) -> bytes:
    try:
        return (await nc.request(subject, body, timeout=timeout)).data
    except nats.errors.NoRespondersError:
        raise SourceError("NATS: no JetStream answers (is it enabled?)") from None
    except TimeoutError:  # (nats.py's is one too) a server stalled, or too busy to answer
        raise SourceError(f"NATS: no answer within {timeout:g} s") from None
    except nats.errors.Error as exc:
        raise SourceError(f"NATS: {type(exc).__name__}: {exc}".rstrip(": ")) from exc


async def subject_counts(nc: Client, stream: str, timeout: float) -> dict[str, int] | None:
    """Tasks held per subject of `stream`; None if there is no such stream. (A stream with
    over 100,000 subjects holding tasks answers the first 100,000: the others' pools are
    still read every REREAD_EVERY_S.)"""
    what = f"stream {stream}"
    data = await request(nc, f"{API}.STREAM.INFO.{stream}", b'{"subjects_filter":">"}', timeout)
    info = parse(StreamInfo, data, what)
    if info.error is not None:
        return None
    if info.state is None:
        raise SourceError(f"{what}: an answer agentdash cannot read: state: missing")
    return dict(info.state.subjects or {})


async def consumer_page(nc: Client, stream: str, offset: int, timeout: float) -> ConsumerPage:
    """The consumers of `stream` from `offset` on (the server sends up to 256)."""
    body = b'{"offset":%d}' % offset
    data = await request(nc, f"{API}.CONSUMER.LIST.{stream}", body, timeout)
    page = parse(ConsumerPage, data, f"stream {stream}'s consumers")
    if page.error is not None:  # the stream went between two requests
        return ConsumerPage(total=0, offset=offset)
    return page


async def consumer_lag(
    nc: Client, stream: str, consumer: str, timeout: float
) -> ConsumerInfo | None:
    """One consumer's pending and ack pending; None if there is no such consumer (or stream)."""
    data = await request(nc, f"{API}.CONSUMER.INFO.{stream}.{consumer}", b"", timeout)
    info = parse(ConsumerInfo, data, f"consumer {stream}/{consumer}")
    return None if info.error is not None else info


def first_after(stream: str, subject: str, seq: int) -> tuple[str, bytes]:
    """The request (subject, body) for the first task on `subject` from stream sequence `seq`
    on (the stream's message-get API)."""
    return f"{API}.STREAM.MSG.GET.{stream}", json.dumps(
        {"seq": seq, "next_by_subj": subject}
    ).encode()


def stored_at(data: bytes, what: str) -> float | None:
    """When the task a `first_after` answer holds was stored (epoch seconds); None if there is
    none (taken or acked since). An answer that is not JetStream's is a SourceError."""
    answer = parse(StoredAnswer, data, what)
    if answer.error is not None:
        return None
    if answer.message is None:
        raise SourceError(f"{what}: an answer agentdash cannot read: message: missing")
    return answer.message.time.timestamp()


@dataclass(slots=True)
class Reads:
    """What was read of one stream's pools, and when: enough to pick the pools to read again
    on a tick without a loop over them all (at 5,000 pools such a loop cost 2.5 ms a tick)."""

    subjects: Mapping[str, str]
    """Its pools, each with its subject."""
    counted: dict[str, int] = field(default_factory=dict)
    """Per pool read, its subject's task count when it was read."""
    read_at: dict[str, float] = field(default_factory=dict)
    """Per pool read, when: the one read longest ago first."""
    holding: set[str] = field(default_factory=set)
    """The pools whose subject held tasks when they were read."""
    pool_of: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.pool_of = {subject: pool for pool, subject in self.subjects.items()}

    def record(self, pool: str, count: int, now: float) -> None:
        self.counted[pool] = count
        if count:
            self.holding.add(pool)
        else:
            self.holding.discard(pool)
        self.read_at.pop(pool, None)  # to the end: the order stays the order of reading
        self.read_at[pool] = now

    def moved(self, counts: Mapping[str, int], arrived: Collection[str], now: float) -> set[str]:
        """The pools to read by themselves now: never read, their subject's count not what it
        was when they were last read (a task came or went), tasks `arrived` on their subject
        since, or not read for twice REREAD_EVERY_S (a consumer the rotating listing missed,
        or no longer holds). `counts` holds only the subjects that hold tasks."""
        out = {pool for pool in arrived if pool in self.subjects}
        if len(self.read_at) < len(self.subjects):  # the first read, or one that failed
            out.update(pool for pool in self.subjects if pool not in self.read_at)
        pool_of, counted = self.pool_of, self.counted
        for subject, n in counts.items():
            pool = pool_of.get(subject)
            if pool is not None and counted.get(pool) != n:
                out.add(pool)
        out.update(pool for pool in self.holding if self.subjects[pool] not in counts)
        due = now - 2 * REREAD_EVERY_S
        for pool, at in self.read_at.items():
            if at > due:
                break
            out.add(pool)
        return out


@dataclass(frozen=True, slots=True)
class Rotation:
    """Where a stream's listing goes on: the page it lists next, and the time it has listed
    pages up to. It lists pages at the pace that lists each one every REREAD_EVERY_S, so a
    stream's pools are re-read a few pages a tick, not all at once."""

    page: int = 0
    until: float | None = None


def next_pages(
    rotation: Rotation, total: int, limit: int, now: float
) -> tuple[list[int], Rotation]:
    """The offsets of the pages to list now, and the rotation after them."""
    if rotation.until is None:
        return [], Rotation(0, now)
    pages = max(1, math.ceil(total / limit)) if limit else 1
    due = math.floor(pages * (now - rotation.until) / REREAD_EVERY_S + 1e-9)  # 3 x (15 s / 3) / 15
    if due <= 0:
        return [], rotation
    until = rotation.until + due * REREAD_EVERY_S / pages
    if due >= pages:  # a long gap: once round, and the pace starts again from now
        due, until = pages, now
    offsets = [(rotation.page + i) % pages * limit for i in range(due)]
    return offsets, Rotation((rotation.page + due) % pages, until)


def list_instead(moved_pools: int, consumers: int) -> bool:
    """Whether listing every page of a stream of `consumers` costs less than reading
    `moved_pools` consumers one by one."""
    return moved_pools > INFOS_PER_PAGE * max(1, math.ceil(consumers / 256))
