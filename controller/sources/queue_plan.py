"""What the JetStream streams and consumers agentdash reads should be, compared with what is
there: `agentdash queues`, the demo and the tests read it; controller.sources.jetstream_queues
reads the server and creates what is missing.

`queue_specs` says what a config's pools need (a work-queue stream per `queue.stream`, a
durable pull consumer per pool), and `check_stream` / `check_consumer` compare it with what
exists, field by field. Pure: no server, no clock of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from nats.js.api import (
    ConsumerConfig,
    PersistMode,
    StreamConfig,
    StreamConsumerLimits,
    StreamSource,
    SubjectTransform,
)

from controller.core.config import Config

ACK_WAIT_S = 30.0
"""How long a task may stay unacked before JetStream gives it to another worker."""
UNLIMITED = -1
STREAM_BYTES = 8 * 1024**3
"""What a task stream may hold: full, it refuses new tasks (discard new), and the account's
other streams (the lease, the overrides) keep the room they need (agentdash.nats_accounts)."""
DUPLICATE_WINDOW_S = 120.0
"""How long a stream drops a task whose Nats-Msg-Id one had before: nats-server's default, the
window producers are told of. A longer one drops a task published again with its ID (a retry,
an ID reused a day on) for longer."""
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
    max_bytes: int = STREAM_BYTES

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
            f"subjects {_some(self.subjects)}; retention workqueue; storage file; "
            f"max bytes {size(self.max_bytes)}, discard new; max consumers {self.max_consumers}; "
            f"duplicate window {_seconds(DUPLICATE_WINDOW_S)}"
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
    blocked: str = ""
    """missing: why it is not to be created (its stream does not take its subject)."""


def queue_specs(
    config: Config, *, ack_wait: float = ACK_WAIT_S, max_bytes: int = STREAM_BYTES
) -> list[QueueSpec]:
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
    streams: list[QueueSpec] = [
        StreamSpec(s, tuple(subs), max_bytes) for s, subs in subjects.items()
    ]
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
    check = _compared(spec, stream_fields(spec, existing))
    held = existing.max_bytes
    if held is None or not 0 < held < spec.max_bytes:
        return check
    # A smaller bound is enough (_max_bytes) and is never raised, as nothing that exists is
    # changed: the report says what the stream holds, not the larger size that was asked.
    note = (
        f"max_bytes: {size(held)}, not the {size(spec.max_bytes)} asked: left as it is "
        "(agentdash changes nothing that exists)"
    )
    kept = replace(spec, max_bytes=held) if check.state == "in place" else spec
    return QueueCheck(kept, check.state, (*check.details, note))


def stream_fields(spec: StreamSpec, existing: StreamConfig) -> dict[str, tuple[str, str]]:
    """Each field compared: (existing, wanted), alike when as good. The fields left out are
    in queue_fields_left.STREAM_FIELDS_LEFT, with why no task is lost by them."""
    have = list(existing.subjects or [])
    uncovered = [s for s in spec.subjects if not any(covers(p, s) for p in have)]
    # Messages that expire, or a full stream that discards its oldest, drop tasks nobody
    # ran; a full stream that refuses new ones tells the publisher instead. With no limit
    # set, the stream is never full and its discard policy does not matter.
    limits = (existing.max_msgs, existing.max_bytes, existing.max_msgs_per_subject)
    discard = _value(existing.discard) if any((n or 0) > 0 for n in limits) else "new"
    return {
        # a wildcard (`agent_tasks.>`) that takes every pool's subject is as good
        "subjects": _subjects(have, uncovered),
        "retention": (_value(existing.retention), "workqueue"),
        "storage": (_value(existing.storage), "file"),
        "max_age": (_seconds(existing.max_age) if existing.max_age else "none", "none"),
        "discard": (discard, "new"),
        "max_bytes": _max_bytes(spec, existing.max_bytes),
        "max_consumers": _max_consumers(spec, existing.max_consumers),
        # A rollup header purges every task on its subject; a transform stores a task
        # under a subject its pool's consumer does not read; sealed takes none at all.
        "allow_rollup_hdrs": (_yes(existing.allow_rollup_hdrs), "no"),
        "subject_transform": (_transform(existing.subject_transform), "none"),
        "sealed": (_yes(existing.sealed), "no"),
        # the server deletes a consumer idle this long, and gives it to each one made here
        "consumer_limits.inactive_threshold": (_idle(existing.consumer_limits), "none"),
        # a producer's Nats-TTL header makes its task expire, run or not
        "allow_msg_ttl": (_yes(existing.allow_msg_ttl), "no"),
        # a task with the Msg-Id of one published within the window is dropped: the
        # window producers are told of (docs/operating.md) is the longest that is safe
        "duplicate_window": _duplicate_window(existing.duplicate_window),
        # a mirror takes no producer's task; sources add other streams' messages to the
        # pools' subjects, each then run as a task
        "mirror": (_source(existing.mirror), "none"),
        "sources": (_list(map(_source, existing.sources or [])) or "none", "none"),
        # async persistence loses the tasks not yet written when the server stops, as
        # memory storage loses them all
        "persist_mode": (_value(existing.persist_mode or PersistMode.DEFAULT), "default"),
    }


def _subjects(have: list[str], uncovered: list[str]) -> tuple[str, str]:
    """Those the stream takes, and those it should: all of them while they fit on a line, else
    the ones to add (one pool added beside thousands is named, not lost at a line's end)."""
    shown = _some(have) or "none"
    if not uncovered:
        return shown, shown
    if len(have) + len(uncovered) <= SUBJECTS_SHOWN:
        return shown, _list(have + uncovered)
    return shown, f"those and {_some(uncovered)}" if have else _some(uncovered)


SUBJECTS_SHOWN = 10
"""Subjects a line lists before it says how many there are in all."""


def _some(subjects: Sequence[str]) -> str:
    if len(subjects) <= SUBJECTS_SHOWN:
        return _list(subjects)
    return f"{_list(subjects[:SUBJECTS_SHOWN])}, ... ({len(subjects):,} in all)"


def _max_bytes(spec: StreamSpec, limit: int | None) -> tuple[str, str]:
    """Enough when bounded within the spec's: a stream that may take the account's whole disk
    leaves agentdash's lease and overrides no room to be written."""
    have = _bytes(limit)
    return have, have if limit is not None and 0 < limit <= spec.max_bytes else size(spec.max_bytes)


def _duplicate_window(window: float | None) -> tuple[str, str]:
    """A shorter window is as good: it drops fewer tasks. Unset, the server's default."""
    have = _seconds(window or DUPLICATE_WINDOW_S)
    return have, have if (window or 0) <= DUPLICATE_WINDOW_S else _seconds(DUPLICATE_WINDOW_S)


def _max_consumers(spec: StreamSpec, limit: int | None) -> tuple[str, str]:
    """Enough when its pools' consumers fit; a positive limit is the stream's, any other the
    server's default."""
    have = str(limit) if limit and limit > 0 else f"unset (the server's {SERVER_MAX_CONSUMERS})"
    enough = (limit if limit and limit > 0 else SERVER_MAX_CONSUMERS) >= len(spec.subjects)
    return have, have if enough else str(spec.max_consumers)


def check_consumer(
    spec: ConsumerSpec,
    existing: ConsumerConfig | None,
    *,
    now: datetime,
    stream_subjects: Sequence[str] | None = None,
) -> QueueCheck:
    """`stream_subjects`: those of its stream, if it exists. A consumer filtered on a subject
    its stream does not take never receives a task (nats-server makes it all the same), and
    its pool's producers are refused: not to be created until the stream takes it."""
    takes = stream_subjects is None or any(covers(p, spec.filter_subject) for p in stream_subjects)
    unfed = f"stream {spec.stream} does not take {spec.filter_subject}"
    if existing is None:
        if takes:
            return QueueCheck(spec, "missing")
        waits = f"{unfed}: --apply creates this consumer once it does"
        add = f"add {spec.filter_subject} to the stream's subjects (nats stream edit {spec.stream})"
        return QueueCheck(spec, "missing", (waits,), f"{unfed}, so no task would reach it: {add}")
    check = _compared(spec, consumer_fields(spec, existing, now=now))
    filters = [f for f in existing.filter_subjects or [existing.filter_subject or ""] if f]
    if stream_subjects is None or not filters:  # unfiltered, it takes whatever the stream does
        return check
    if any(covers(p, f) or covers(f, p) for p in stream_subjects for f in filters):
        return check  # a filter that differs is said as such
    note = f"stream {spec.stream} does not take {_list(filters)}: no task reaches this consumer"
    return replace(check, details=(*check.details, f"{note} until it does"))


def consumer_fields(
    spec: ConsumerSpec, existing: ConsumerConfig, *, now: datetime
) -> dict[str, tuple[str, str]]:
    """Each field compared: (existing, wanted), alike when as good. The fields left out are
    in queue_fields_left.CONSUMER_FIELDS_LEFT, with why no task is lost by them."""
    filters = existing.filter_subjects or [existing.filter_subject or ""]
    return {
        "deliver_subject": (existing.deliver_subject or "none (pull)", "none (pull)"),
        "filter_subject": (_list(filters) or "none (every subject)", spec.filter_subject),
        "ack_policy": (_value(existing.ack_policy), "explicit"),
        # the server keeps nanoseconds: to the millisecond, as anyone would set it
        "ack_wait": (_seconds(existing.ack_wait or 0.0), _seconds(spec.ack_wait)),
        "backoff": (_list(map(_seconds, existing.backoff or [])) or "none", "none"),
        "max_ack_pending": (_count(existing.max_ack_pending), _count(spec.max_ack_pending)),
        "max_deliver": (_count(existing.max_deliver), _count(spec.max_deliver)),
        # a worker would get a task without its body, and ack it away
        "headers_only": (_yes(existing.headers_only), "no"),
        # the server deletes the consumer once no worker has fetched for this long: the
        # pool's lag can no longer be read, and its workers have nothing to bind to
        "inactive_threshold": (_seconds_or_none(existing.inactive_threshold), "none"),
        # paused, it delivers nothing: its pool's workers, however many, wait on an
        # empty fetch while the lag grows. A pause that has run out delivers again.
        "pause_until": (_paused_until(existing.pause_until, now), "none"),
    }


def _compared(spec: QueueSpec, fields: Mapping[str, tuple[str, str]]) -> QueueCheck:
    """`field: existing -> wanted` for each field that is not as wanted."""
    details = tuple(
        f"{name}: {have} -> {want}" for name, (have, want) in fields.items() if have != want
    )
    return QueueCheck(spec, "differs" if details else "in place", details)


def covers(pattern: str, subject: str) -> bool:
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


def size(n: int) -> str:
    """Bytes as nats-server's configuration and `nats` write them: 8G, 512M, 1024."""
    for unit, scale in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return str(n)


def _bytes(n: int | None) -> str:
    return "unlimited" if n is None or n < 0 else size(n)


def _count(n: int | None) -> str:
    return "unlimited" if n is None or n < 0 else str(n)


def _seconds(value: float) -> str:
    return f"{round(value, 3):g} s"


def _seconds_or_none(value: float | None) -> str:
    return _seconds(value) if value else "none"


def _yes(flag: bool | None) -> str:
    return "yes" if flag else "no"


def _transform(transform: SubjectTransform | None) -> str:
    return f"{transform.src} to {transform.dest}" if transform is not None else "none"


def _idle(limits: StreamConsumerLimits | None) -> str:
    return _seconds_or_none(limits.inactive_threshold if limits is not None else None)


def _source(source: StreamSource | None) -> str:
    return "none" if source is None else f"stream {source.name}"


def _paused_until(until: str | None, now: datetime) -> str:
    """The pause's end while it is ahead, else none. A time that cannot be read is taken as
    still paused: it is shown, not passed over."""
    if not until:
        return "none"
    try:
        end = datetime.fromisoformat(until)
    except ValueError:
        return until
    return until if end.tzinfo is None or end > now else "none"


def _list(items: Iterable[str]) -> str:
    return ", ".join(i for i in items if i)
