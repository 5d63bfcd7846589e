"""State several agentdash processes share through NATS JetStream.

- Operator overrides live in the key-value bucket `agentdash_overrides` (key `overrides`): a
  restart loses none, and every daemon and dashboard sees the same pins and pauses (of the
  controller, tenants and single pools: `paused_pools`, validated as pins are). The last
  write wins for the whole document; operator actions are rare and human-paced.
- Every operator action is appended to the stream `AGENTDASH_AUDIT` (subject
  `agentdash.audit`): who, what, when, and from where (host and process).
- The leader publishes each tick's decisions on `agentdash.decisions`, with each pool's ready
  replicas, so dashboards that only observe show what the leader decided and sees, not their
  own guess: only what changed since the last tick, in chunks under the server's max_payload,
  and the whole view every 30 s or when a follower asks (DecisionsEncoder, DecisionsView).
  (Its event history goes to a stream: controller.history_stream.)

Nothing read back is trusted blindly. A KV value or a decisions message that is not valid
(bad JSON or UTF-8, numbers out of bounds) is dropped, counted and logged
(controller.bad_messages); the watcher and the process keep running.

How agentdash tells its own override writes from foreign ones (`nats kv put`, a script):
every agentdash write is preceded by its audit record, which carries the SHA-256 of the
document (`overrides_sha256`); the document written then names that record's stream sequence
in its `audit` field. A revision is agentdash's when the record at that sequence names that
very document. Any other revision is foreign: if valid, it is applied (operators meant it) and
logged, and an audit record `foreign write` with its KV revision is appended, once (the record
carries the message id `agentdash_overrides-<revision>`, which JetStream de-duplicates when
several processes see the write together, and a process starting later skips it if the last
audit record already names that revision). Only a writer able to append to the audit stream
can pass for agentdash: deploy/nats-permissions.conf gives that right to agentdash alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Annotated, Any, Literal

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from controller.bad_messages import BadMessages, describe
from controller.config import Config, ConfigError
from controller.events import ActionEvent
from controller.model import Overrides, Reason, ScaleDecision
from controller.overrides import OverridesDocument, OverrideStore, read_overrides

log = logging.getLogger("agentdash.shared")

BUCKET = "agentdash_overrides"
KEY = "overrides"
AUDIT_STREAM = "AGENTDASH_AUDIT"
AUDIT_SUBJECT = "agentdash.audit"
DECISIONS_SUBJECT = "agentdash.decisions"
FOREIGN = "foreign write"
"""The audit action recorded for an override write agentdash did not make."""


def whereabouts() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class SharedOverrides:
    """Keeps an OverrideStore and the NATS bucket in step, both ways."""

    def __init__(
        self, nc: Client, store: OverrideStore, config: Config, *, bad: BadMessages | None = None
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._store = store
        self._config = config
        self.bad = bad or BadMessages()
        self._kv: Any = None
        self._watch: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._written: set[int] = set()
        self._read_at_start = 0
        """The revision start() took; the watcher begins by delivering it again."""

    async def start(self) -> None:
        self._kv = await self._js.create_key_value(bucket=BUCKET, history=10)
        try:
            await self._js.stream_info(AUDIT_STREAM)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(name=AUDIT_STREAM, subjects=[AUDIT_SUBJECT])
        with contextlib.suppress(nats.js.errors.KeyNotFoundError):  # the first action makes it
            entry = await self._kv.get(KEY)
            self._read_at_start = entry.revision
            if entry.value:
                await self._take(entry.value, entry.revision, starting=True)
        self._store.listeners.append(self._changed)
        watcher = await self._kv.watch(KEY, include_history=False)
        self._watch = asyncio.create_task(self._follow(watcher))
        self._watch.add_done_callback(_report_end)

    async def _follow(self, watcher: Any) -> None:
        async for entry in watcher:
            if entry is None or not entry.value or entry.revision in self._written:
                continue
            if entry.revision <= self._read_at_start:
                continue
            await self._take(entry.value, entry.revision)

    async def _take(self, value: bytes, revision: int, *, starting: bool = False) -> None:
        """Apply a revision of the bucket if valid; notice and audit it if foreign."""
        try:
            document = read_overrides(value, f"nats kv {BUCKET}/{KEY} revision {revision}")
        except ConfigError as exc:  # a bad write elsewhere never takes us down
            self.bad.drop("overrides", str(exc))
            return
        ours = await self._announced(document)
        self._store.replace(document.overrides(self._config))
        if ours:
            return
        log.warning("overrides revision %d was not written by agentdash; applied: %s",
                    revision, _summary(document))  # fmt: skip
        if self._store.read_only:
            return  # it writes nothing, not even the audit: a process that may write will
        if not (starting and await self._audited(revision)):
            self._spawn(self._audit_foreign(document, revision))

    async def _announced(self, document: OverridesDocument) -> bool:
        """Whether the audit record the document names announced this very document."""
        if document.audit is None:
            return False
        try:
            record = await self._js.get_msg(AUDIT_STREAM, document.audit)
            said = json.loads(record.data or b"")
        except (nats.errors.Error, TimeoutError, ValueError):
            return False  # no such record, or it cannot be read now: not proven ours
        return (
            record.subject == AUDIT_SUBJECT
            and isinstance(said, dict)
            and said.get("overrides_sha256") == document.digest()
        )

    async def _audited(self, revision: int) -> bool:
        """Whether the last audit record already names this foreign revision."""
        try:
            record = await self._js.get_last_msg(AUDIT_STREAM, AUDIT_SUBJECT)
            said = json.loads(record.data or b"")
        except (nats.errors.Error, TimeoutError, ValueError):
            return False
        return isinstance(said, dict) and said.get("revision") == revision

    async def _audit_foreign(self, document: OverridesDocument, revision: int) -> None:
        record = {"type": "action", "ts": round(time.time(), 3), "who": "unknown",
                  "action": FOREIGN, "target": f"{BUCKET}/{KEY}",
                  "detail": f"applied: {_summary(document)}", "revision": revision,
                  "from": whereabouts()}  # fmt: skip
        once = {"Nats-Msg-Id": f"{BUCKET}-{revision}"}
        try:
            await self._js.publish(AUDIT_SUBJECT, json.dumps(record).encode(), headers=once)
        except (nats.errors.Error, TimeoutError) as exc:
            log.warning("could not audit foreign overrides revision %d: %s", revision, exc)

    def _changed(self, overrides: Overrides, event: ActionEvent) -> None:
        self._spawn(self._publish(overrides, event))

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _publish(self, overrides: Overrides, event: ActionEvent) -> None:
        document = OverridesDocument.of(overrides)
        audit = {**event.as_dict(), "from": whereabouts(), "overrides_sha256": document.digest()}
        ack = await self._js.publish(AUDIT_SUBJECT, json.dumps(audit).encode())
        document.audit = ack.seq  # the record comes first: the write names it
        revision = await self._kv.put(KEY, document.model_dump_json(indent=2).encode())
        self._written.add(revision)

    async def flush(self) -> None:
        """Wait until every change made here is in NATS."""
        if self._writes:
            await asyncio.gather(*self._writes)

    async def stop(self) -> None:
        await self.flush()
        if self._watch is not None:
            self._watch.cancel()


def _summary(document: OverridesDocument) -> str:
    parts = [f"pin {pool}={pin.replicas}" for pool, pin in sorted(document.pins.items())]
    parts += [f"pause tenant {tenant}" for tenant in document.paused_tenants]
    parts += [f"pause pool {pool}" + ("" if pause.replicas is None else f"={pause.replicas}")
              for pool, pause in sorted(document.paused_pools.items())]  # fmt: skip
    parts += ["pause controller"] * document.paused + ["dry-run"] * document.dry_run
    return (", ".join(parts) or "no overrides")[:500]


def _report_end(task: asyncio.Task[None]) -> None:
    """The watcher ends only when stopped; if anything else ends it, say so."""
    if not task.cancelled() and task.exception() is not None:
        log.error("overrides watcher stopped: %r", task.exception())


FULL_EVERY_S = 30.0
"""The leader sends its whole view at least this often: a follower that missed a part (or
whose request for it was lost) is back in step within this time."""
VERSION = 2
"""Of the decisions messages (1: one JSON document per tick, with every pool, long keys)."""

MAX_REPLICAS = 1_000_000
NAME_CHARS = 253
Replicas = Annotated[int, Field(ge=0, le=MAX_REPLICAS)]
Name = Annotated[str, Field(min_length=1, max_length=NAME_CHARS)]
Rule = Annotated[str, Field(max_length=100)]
Detail = Annotated[str, Field(max_length=2000)]
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
    JSON document of its own: at 5,000 pools the whole view is about 1.6 MB, over NATS's
    1 MB default, which the server refused (followers then received nothing at all).

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
        self._want_full = True

    def messages(
        self,
        ts: float,
        decisions: Iterable[ScaleDecision],
        ready: Mapping[str, int],
        max_payload: int,
    ) -> list[bytes]:
        """This tick's message, as chunks of at most a quarter of `max_payload` (bar a
        single row larger than that, which goes alone)."""
        changed: list[bytes] = []
        seen = set()
        rows, encoded = self._rows, self._encoded
        for d in decisions:
            pool = d.pool
            seen.add(pool)
            row = _row(d, ready.get(pool))
            if rows.get(pool) != row:  # reasons compare unformatted: formatting costs
                rows[pool] = row
                encoded[pool] = _compact([*row[:-1], [(r.rule, r.detail) for r in d.reasons]])
                changed.append(encoded[pool])
        gone = [pool for pool in rows if pool not in seen]
        for pool in gone:
            del rows[pool], encoded[pool]
        full = self._want_full or not 0 <= ts - self._full_at < FULL_EVERY_S  # clock jumps too
        if full:
            self._full_at, self._want_full = ts, False
            changed, gone = list(encoded.values()), []
        self._seq += 1
        head = _compact([self.leader, self.epoch, self._seq, ts, "f" if full else "d"])[1:-1]
        return _chunks(head, changed, [_compact(pool) for pool in gone], max_payload // 4)


def _row(d: ScaleDecision, ready: int | None) -> tuple[object, ...]:
    observed = d.observed
    return (d.pool, d.tenant, d.current if observed else None, d.desired if observed else None,
            d.recommendation, d.held, ready, d.reasons)  # fmt: skip


def _compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _chunks(head: bytes, rows: list[bytes], gone: list[bytes], budget: int) -> list[bytes]:
    """`{"m":[leader,epoch,seq,ts,kind],"i":i,"n":n,"r":[rows],"g":[gone]}` documents."""
    parts: list[tuple[list[bytes], list[bytes]]] = [([], [])]
    size = 0
    for which, items in ((0, rows), (1, gone)):
        for item in items:
            if size + len(item) > budget and (parts[-1][0] or parts[-1][1]):
                parts.append(([], []))
                size = 0
            parts[-1][which].append(item)
            size += len(item) + 1
    n = len(parts)
    return [
        b'{"v":2,"m":[%s],"i":%d,"n":%d,"r":[%s],"g":[%s]}'
        % (head, i, n, b",".join(part_rows), b",".join(part_gone))
        for i, (part_rows, part_gone) in enumerate(parts)
    ]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class _ReasonWire(_Wire):
    rule: Rule
    detail: Detail


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
    r: list[Row] = []
    g: list[Name] = []

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
                reasons = tuple(Reason(rule, detail) for rule, detail in why)
                decisions[pool] = ScaleDecision(pool, tenant, current or 0, desired or 0,
                                                reasons, recommendation, held,
                                                current is not None)  # fmt: skip
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
) -> Any:
    """Follow the leader's decisions: `on_decisions(leader, decisions, ready)` with the whole
    view each time it changes. Asks the leader for its full view at once, and again when a
    part went missing. `on_request`: a follower asked for the full view (the leader's
    DecisionsEncoder.want_full). `following`: False while this process leads, which then
    reads no decisions back (its own: at 10,000 pools a full view costs a follower 0.2 s),
    only requests; when it follows again, it asks for the full view."""
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
        elif said == "ask":
            await _ask_full(nc)

    subscription = await nc.subscribe(DECISIONS_SUBJECT, cb=handle)
    await _ask_full(nc)
    return subscription


async def _ask_full(nc: Client) -> None:
    with contextlib.suppress(nats.errors.Error):  # the periodic full view comes anyway
        await nc.publish(DECISIONS_SUBJECT, REQUEST)
