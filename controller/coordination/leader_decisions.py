"""The leader's decisions, as followers see them: on `agentdash.decisions`.

The leader publishes each tick's decisions with each pool's ready replicas, so dashboards that
only observe show what the leader decided and sees, not their own guess. At fleet size that
must not grow with the fleet: a tick sends only what changed since the last one, as compact
rows, in chunks under the server's max_payload, and the whole view on the first tick, every
FULL_EVERY_S and when a follower asks (DecisionsEncoder). A follower applies each tick onto
its last whole view, in order; a lost chunk or message is detected, and the view waits for the
next whole one rather than show a delta applied to the wrong base (DecisionsView).

Each row may come with when its decision changes by time alone (`until`: a hold, pin or pause
ends), under the chunk's key `t` (pool -> epoch seconds), which a follower of an older version
ignores: it counts down what the leader holds, as the leader's own dashboard does.

Nothing read back is trusted blindly: a message that is not valid is dropped, counted and
logged (controller.core.bad_messages); the follower keeps running.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Annotated, Any, Literal

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import Field, TypeAdapter, ValidationError

from controller.coordination.wire import Detail, Name, Replicas, Rule, _Wire
from controller.core.bad_messages import BadMessages, describe
from controller.core.model import Reason, ScaleDecision

DECISIONS_SUBJECT = "agentdash.decisions"
FULL_EVERY_S = 30.0
"""The leader sends its whole view at least this often: a follower that missed a part (or
whose request for it was lost) is back in step within this time."""
VERSION = 2
"""Of the decisions messages (1: one JSON document per tick, with every pool, long keys)."""

Row = tuple[
    Name,  # pool
    Name,  # tenant
    Replicas | None,  # current (None: the pool was not observed)
    Replicas | None,  # desired
    Replicas,  # recommendation
    bool,  # held
    Replicas | None,  # ready, as the leader sees it
    Annotated[list[tuple[Rule, Detail]], Field(min_length=1, max_length=100)],  # reasons
]
"""One pool's decision on the wire: an array, so that no key is repeated 5,000 times."""


class DecisionsEncoder:
    """The leader's side of `agentdash.decisions`. Each tick is one message with a sequence
    number: only the pools whose decision (or ready replicas) changed since the last one,
    and those that are gone (a delta); or every pool (a full view) on the first tick, every
    FULL_EVERY_S, and after `want_full()` (a follower asked: it is new, or missed a part).
    A message larger than a quarter of the server's max_payload goes out in chunks, each a
    JSON document of its own: a full view of 5,000 pools is about 1.6 MB, over NATS's 1 MiB
    default max_payload, which the server would refuse whole.

    Pure: the caller publishes the chunks, in order, on one connection (NATS keeps their
    order from one publisher)."""

    def __init__(self, leader: str, *, epoch: str | None = None) -> None:
        self.leader = leader
        self.epoch = epoch or os.urandom(4).hex()
        """Tells this process's sequence from a restarted one's under the same name."""
        self._seq = 0
        self._rows: dict[str, tuple[object, ...]] = {}
        self._encoded: dict[str, bytes] = {}
        """Each pool's row as last sent, encoded once, when it changed."""
        self._until: dict[str, bytes] = {}
        """Each pool's `"pool":until` as last sent, when its decision has one."""
        self._full_at = -math.inf
        self._want_full = True

    def want_full(self) -> None:
        """Send the whole view with the next message."""
        self._want_full = True

    def forget(self) -> None:
        """This process stopped leading: when it leads again, it starts with a full view
        (followers followed another leader meanwhile)."""
        self._rows.clear()
        self._encoded.clear()
        self._until.clear()
        self._want_full = True

    def messages(
        self,
        ts: float,
        decisions: Iterable[ScaleDecision],
        ready: Mapping[str, int],
        max_payload: int,
        *,
        partial: bool = False,
        read: int = 0,
    ) -> list[bytes]:
        """This tick's message, as chunks of at most a quarter of `max_payload` (bar a
        single row larger than that, which goes alone). `decisions`: every pool's; or with
        `partial`, only those made again this tick (the others are as last given, and none
        is gone): a tick then costs what changed, not the fleet. `read`: the newest revision
        of the shared overrides the leader has read (a follower keeps the operator actions
        it read later, for the next leader to log: agentdash.others_actions)."""
        changed: list[str] = []
        seen = set()
        rows, encoded, until = self._rows, self._encoded, self._until
        for d in decisions:
            pool = d.pool
            seen.add(pool)
            row = _row(d, ready.get(pool))
            if rows.get(pool) != row:  # reasons compare unformatted: formatting costs
                rows[pool] = row
                encoded[pool] = _compact([*row[:7], [(r.rule, r.detail) for r in d.reasons]])
                if math.isfinite(d.until):
                    until[pool] = _compact(pool) + b":" + _compact(round(d.until, 3))
                else:
                    until.pop(pool, None)
                changed.append(pool)
        gone = [] if partial else [pool for pool in rows if pool not in seen]
        for pool in gone:
            del rows[pool], encoded[pool]
            until.pop(pool, None)
        full = self._want_full or not 0 <= ts - self._full_at < FULL_EVERY_S  # clock jumps too
        if full:
            self._full_at, self._want_full = ts, False
            changed, gone = list(encoded), []
        self._seq += 1
        head = _compact([self.leader, self.epoch, self._seq, ts, "f" if full else "d"])[1:-1]
        rows_out = [(encoded[pool], until.get(pool)) for pool in changed]
        gone_out = [_compact(pool) for pool in gone]
        return _chunks(head, rows_out, gone_out, max_payload // 4, read)


def _row(d: ScaleDecision, ready: int | None) -> tuple[object, ...]:
    """What is sent of a decision (the wire's Row, in its order, then until)."""
    observed = d.observed
    return (
        d.pool,
        d.tenant,
        d.current if observed else None,
        d.desired if observed else None,
        d.recommendation,
        d.held,
        ready,
        d.reasons,
        d.until,
    )


def _compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _chunks(
    head: bytes, rows: list[tuple[bytes, bytes | None]], gone: list[bytes], budget: int, read: int
) -> list[bytes]:
    """`{"m":[leader,epoch,seq,ts,kind],"i":i,"n":n,"r":[rows],"g":[gone],"t":{until},"o":read}`
    documents. `rows`: each encoded row, with its `"pool":until` if it has one."""
    parts: list[tuple[list[bytes], list[bytes], list[bytes]]] = [([], [], [])]
    size = 0
    for row, until in rows:
        cost = len(row) + 1 + (len(until) + 1 if until is not None else 0)
        if size + cost > budget and (parts[-1][0] or parts[-1][1]):
            parts.append(([], [], []))
            size = 0
        parts[-1][0].append(row)
        if until is not None:
            parts[-1][2].append(until)
        size += cost
    for pool in gone:
        if size + len(pool) > budget and (parts[-1][0] or parts[-1][1]):
            parts.append(([], [], []))
            size = 0
        parts[-1][1].append(pool)
        size += len(pool) + 1
    n = len(parts)
    return [
        b'{"v":2,"m":[%s],"i":%d,"n":%d,"r":[%s],"g":[%s],"t":{%s},"o":%d}'
        % (head, i, n, b",".join(part_rows), b",".join(part_gone), b",".join(part_until), read)
        for i, (part_rows, part_gone, part_until) in enumerate(parts)
    ]


class DecisionsChunk(_Wire):
    """One chunk of the leader's message on agentdash.decisions (crosses a process boundary;
    see DecisionsEncoder)."""

    v: Literal[2]
    m: tuple[
        Name,  # leader
        Annotated[str, Field(min_length=1, max_length=32)],  # epoch
        Annotated[int, Field(ge=1)],  # sequence
        Annotated[float, Field(ge=0, allow_inf_nan=False)],  # ts
        Literal["f", "d"],  # a full view, or a delta
    ]
    i: Annotated[int, Field(ge=0)]
    n: Annotated[int, Field(ge=1, le=100_000)]
    r: list[Row] = Field(default_factory=list)
    g: list[Name] = Field(default_factory=list)
    t: dict[Name, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(default_factory=dict)
    """When each row's decision changes by time alone (absent: not by time)."""
    o: Annotated[int, Field(ge=0)] = 0
    """The newest revision of the shared overrides the leader had read (0 from a leader
    before this field: the follower keeps every action it read for the next leader)."""

    @property
    def stream(self) -> tuple[str, str]:
        return self.m[0], self.m[1]

    @property
    def seq(self) -> int:
        return self.m[2]

    @property
    def full(self) -> bool:
        return self.m[4] == "f"


class FullViewRequest(_Wire):
    """A follower asks the leader for its whole view (it is new, or missed a part)."""

    v: Literal[2]
    want: Literal["full"]


REQUEST = _compact({"v": VERSION, "want": "full"})
_message: TypeAdapter[DecisionsChunk | FullViewRequest] = TypeAdapter(
    DecisionsChunk | FullViewRequest
)


def parse_decisions(data: bytes) -> DecisionsChunk | FullViewRequest:
    """One message on agentdash.decisions. Raises ValidationError for anything else."""
    return _message.validate_json(data)


class DecisionsView:
    """A follower's side: the leader's last full view, with each delta since applied in
    order. A chunk or a sequence number missing means a delta was lost: the view then stays
    as it was last whole (never a delta applied to the wrong base) until the next full view,
    which `take` asks for once by returning "ask"."""

    def __init__(self, pools: Collection[str] | None = None) -> None:
        self.pools = pools
        """Only these pools are kept (a leader on another config version may name others)."""
        self.leader: str | None = None
        self.decisions: dict[str, ScaleDecision] = {}
        self.ready: dict[str, int] = {}
        self._stream: tuple[str, str] | None = None
        self._seq: int | None = None
        """The last sequence applied; None while out of step."""
        self._parts: list[DecisionsChunk] = []
        self._asked = True  # a follower asks when it subscribes

    def take(self, chunk: DecisionsChunk) -> str:
        """ "applied" (the view changed), "partial" (more chunks to come), "ask" (out of
        step: ask the leader for a full view) or "wait" (out of step, already asked)."""
        parts = self._parts
        if parts and (parts[0].m != chunk.m or chunk.i != len(parts)):
            if parts[0].stream == self._stream:  # a chunk of the message was lost
                self._seq = None
            parts.clear()
        if chunk.i != len(parts):
            return self._out_of_step(chunk)  # the first chunk(s) of this message were lost
        parts.append(chunk)
        if len(parts) < chunk.n:
            return "partial"
        self._parts = []
        if chunk.full:
            self._replace(parts)
        elif chunk.stream == self._stream and self._seq is not None and chunk.seq == self._seq + 1:
            self._apply(parts)
        else:
            return self._out_of_step(chunk)
        self._stream, self._seq, self._asked = chunk.stream, chunk.seq, False
        self.leader = chunk.m[0]
        return "applied"

    def lose_step(self) -> None:
        """Messages are not being read: whatever comes next needs a full view first (asked
        for by the first delta)."""
        self._stream = self._seq = None
        self._parts = []
        self._asked = False

    def _out_of_step(self, chunk: DecisionsChunk) -> str:
        if chunk.stream == self._stream:
            self._seq = None
        if self._asked:
            return "wait"
        self._asked = True
        return "ask"

    def _replace(self, parts: list[DecisionsChunk]) -> None:
        self.decisions.clear()
        self.ready.clear()
        self._apply(parts)

    def _apply(self, parts: list[DecisionsChunk]) -> None:
        pools, decisions, ready = self.pools, self.decisions, self.ready
        for part in parts:
            for pool in part.g:
                decisions.pop(pool, None)
                ready.pop(pool, None)
            for pool, tenant, current, desired, recommendation, held, seen, why in part.r:
                if pools is not None and pool not in pools:
                    continue
                reasons = tuple(Reason(rule=rule, template=detail) for rule, detail in why)
                decisions[pool] = ScaleDecision(
                    pool=pool,
                    tenant=tenant,
                    current=current or 0,
                    desired=desired or 0,
                    reasons=reasons,
                    recommendation=recommendation,
                    held=held,
                    observed=current is not None,
                    until=part.t.get(pool, math.inf),
                )
                if seen is None:
                    ready.pop(pool, None)
                else:
                    ready[pool] = seen


async def follow_decisions(
    nc: Client,
    on_decisions: Callable[[str, list[ScaleDecision], dict[str, int]], None],
    *,
    bad: BadMessages | None = None,
    pools: Collection[str] | None = None,
    on_request: Callable[[], None] | None = None,
    following: Callable[[], bool] | None = None,
    on_read: Callable[[str, int], None] | None = None,
) -> Any:
    """Follow the leader's decisions: `on_decisions(leader, decisions, ready)` with the whole
    view each time it changes. Asks the leader for its full view at once, and again when a
    part went missing. `on_request`: a follower asked for the full view (the leader's
    DecisionsEncoder.want_full). `following`: False while this process leads, which then
    reads no decisions back (its own: at 10,000 pools a full view costs a follower 0.2 s),
    only requests; when it follows again, it asks for the full view. `on_read(leader,
    revision)`: the newest overrides revision the leader has read, as each message says."""
    count = bad or BadMessages()
    view = DecisionsView(pools)

    async def handle(msg: Msg) -> None:
        if following is not None and not following() and msg.data != REQUEST:
            view.lose_step()  # following again, it starts from a full view
            return
        try:
            message = parse_decisions(msg.data)
        except ValidationError as exc:
            count.drop("decisions", describe(exc))
            return
        if isinstance(message, FullViewRequest):
            if on_request is not None:
                on_request()
            return
        said = view.take(message)
        if said == "applied" and view.leader is not None:
            on_decisions(view.leader, list(view.decisions.values()), dict(view.ready))
            if on_read is not None:
                on_read(view.leader, message.o)
        elif said == "ask":
            await _ask_full(nc)

    subscription = await nc.subscribe(DECISIONS_SUBJECT, cb=handle)
    await _ask_full(nc)
    return subscription


async def _ask_full(nc: Client) -> None:
    with contextlib.suppress(nats.errors.Error):  # the periodic full view comes anyway
        await nc.publish(DECISIONS_SUBJECT, REQUEST)
