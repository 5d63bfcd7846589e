"""The documents of the history bucket (controller.coordination.handover): what a pool's
history is written as, and what is accepted when it is read back.

Every value read is checked (PoolDoc: finite numbers, bounded lists and size); one that fails
raises BadValue, one line saying what is wrong. A pool's history may be written by a clock
ahead of the reader's (another host's, or this one's before an NTP step back): it is taken,
every time in it read as `now` at the latest (controller.coordination.handover). Refused, a
successor 30 s behind its predecessor let the pool's windows and learned keep-alive go at once.

Two releases share these buckets through a rolling upgrade and a rollback, so every document
of the three handovers (DatedDoc) carries its format, `v`, and is read by these rules:
- a field this release does not know is a newer release's addition: the document is taken
  without it (`unknown`, said once a restore). Refused, as the release before this one
  refuses it, one new field lost every pool's windows and keep-alive at a rollback.
- a `v` above the one this release reads is a format it cannot read rightly: refused, and
  said so (`v: format 2, newer than the 1 this agentdash reads`), never read as its own.
- what this release writes under a key the release before it reads holds only the fields that
  release knows (it refuses any other): PoolDoc is written in format 1 as it always was, and
  what format 1 has no room for (each level's price, Level.share) goes in a key of its own,
  `shares.<pool>` (SharesDoc), which that release leaves alone (it warns of it at each
  takeover, as no configured pool's: a line, where the whole document refused was every
  pool's history).
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from controller.core.accounting import MAX_RATE
from controller.core.config import PoolConfig
from controller.core.history import PoolHistory
from controller.core.keepalive import KeepAlive
from controller.core.keepalive_levels import KEPT_GAPS, MAX_GAP_S
from controller.core.tail import KEPT_CYCLES, Cycle, Tail

SKEW_S = 5.0
"""How far in the future a time may be (another host's clock) before the value is refused."""
CLOCK_AHEAD_S = 86_400.0
"""The same for a value whose times are read as `now` at the latest (a pool's history, a
tenant's spend): a writer's clock a day ahead is not a skew."""
MAX_ENTRIES = 4096
"""Per list. A window keeps one entry per distinct value (at most max_replicas + 1), the steps
one per change in a rate period; beyond this, only the newest are written."""
MAX_BYTES = 512 * 1024
"""Three full lists fit: larger is not ours."""
MAX_REPLICAS = 1_000_000
MAX_STEP = 2**31 - 1
"""A step is new replicas less old: the old is whatever the Deployment said, up to the most
its spec.replicas (an int32) holds. Bounded by MAX_REPLICAS instead, a scale from an absurd
count back to max_replicas would be written and then refused whole, the pool's windows lost
at the next failover."""
MAX_TAKEN = 1e9
"""Tasks a pod takes in a cold start: a million a second for 1,000 s is not ours."""
MAX_LEVELS = 128
"""Levels of a learned keep-alive: bands about 25% apart reach MAX_REPLICAS in under 70."""

Time = Annotated[float, Field(allow_inf_nan=False)]
Replicas = Annotated[int, Field(ge=0, le=MAX_REPLICAS)]
Entry = tuple[Time, Replicas]
Step = tuple[Time, Annotated[int, Field(ge=-MAX_STEP, le=MAX_STEP)]]
Gap = Annotated[float, Field(gt=0, le=MAX_GAP_S, allow_inf_nan=False)]
Share = Annotated[float, Field(gt=0, le=MAX_TAKEN, allow_inf_nan=False)]
Tasks = Annotated[float, Field(ge=0, le=MAX_TAKEN, allow_inf_nan=False)]
READ = ConfigDict(extra="allow", strict=True, frozen=True)
"""How a document is read: strictly, its unknown fields kept aside (`DatedDoc.unknown`)."""


class LevelDoc(BaseModel):
    """One level of the pool's learned keep-alive (controller.core.keepalive.Level)."""

    model_config = READ

    replicas: Annotated[int, Field(ge=1, le=MAX_REPLICAS)]
    in_use: bool
    last_used: Time | None
    peak: Replicas
    gaps: list[Gap] = Field(max_length=KEPT_GAPS)
    share: Share | None = None
    """The tasks a released pod makes wait, as the level's plan was priced (Level.share).
    Written in SharesDoc instead (the release before this one refuses it here); read here
    from a document that has it."""


class KeepDoc(BaseModel):
    """The pool's learned keep-alive: its levels, and its newest recommendation and when it
    was recorded."""

    model_config = READ

    value: Replicas
    latest: Time | None
    levels: list[LevelDoc] = Field(max_length=MAX_LEVELS)
    held: list[Entry] = Field(default_factory=list, max_length=MAX_ENTRIES)
    """Not read. Leaders that limited a pool's scale-up kept here the scale-downs a pool could
    come back from past that limit; written empty, and accepted, so that during an upgrade
    leaders of either kind read each other's documents."""
    heads: list[Replicas] = Field(default_factory=list, max_length=KEPT_GAPS)
    """The replicas its wakes from zero asked for within a cold start (none: not known)."""
    taken: Annotated[float, Field(ge=0, le=MAX_TAKEN, allow_inf_nan=False)] | None = None
    """The tasks a pod would take while another starts, as measured (KeepAlive.taken)."""


class DatedDoc(BaseModel):
    """A document of a bucket whose times are checked when it is read (`load_doc`)."""

    model_config = READ
    AHEAD_S: ClassVar[float] = SKEW_S
    """How far after the reader's `now` its latest time may be."""
    FORMAT: ClassVar[int] = 1
    """The `v` this release reads and writes (each subclass's `v: Literal[FORMAT]`)."""

    def latest(self) -> float:
        """Its latest time: no later than now, give or take SKEW_S."""
        raise NotImplementedError

    def unknown(self) -> list[str]:
        """The fields it has that this release does not know (`keep.levels.bloom`)."""
        return sorted(_unknown(self, ""))


def _unknown(doc: BaseModel, at: str) -> set[str]:
    found = {at + name for name in doc.model_extra or {}}
    for name in type(doc).model_fields:
        value = getattr(doc, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel):
                found |= _unknown(item, f"{at}{name}.")
    return found


class PoolDoc(DatedDoc):
    """One pool's history in the bucket."""

    AHEAD_S = CLOCK_AHEAD_S  # read as of `now` at the latest (handover._merge)

    v: Literal[1] = 1
    at: Time
    """When it was written (the save's `now`)."""
    live: bool
    """Recorded at that tick: its newest entries (and busy_at, if equal) are from `at`."""
    busy_at: Time | None
    lows: list[Entry] = Field(max_length=MAX_ENTRIES)
    highs: list[Entry] = Field(max_length=MAX_ENTRIES)
    steps: list[Step] = Field(max_length=MAX_ENTRIES)
    keep: KeepDoc | None = None
    """None: written by a version that learned no keep-alive, or a pool without one."""

    def latest(self) -> float:
        times = [t for entries in (self.lows, self.highs, self.steps) for t, _ in entries]
        if self.keep is not None:
            times += [lv.last_used for lv in self.keep.levels if lv.last_used is not None]
            times += [self.keep.latest] if self.keep.latest is not None else []
        return max(self.at, self.busy_at if self.busy_at is not None else self.at, *times)


class TailDoc(BaseModel):
    """What the pool's keep-alive counted of the tasks its wakes made wait (Tail)."""

    model_config = READ

    cycles: list[tuple[Gap, Tasks, Tasks]] = Field(max_length=KEPT_CYCLES)
    """Per cycle of the first level, newest last: its gap, the tasks arrived, those woken."""
    arrived: Tasks
    """Tasks arrived since the last cycle ended."""
    rate: Annotated[float, Field(ge=0, le=MAX_RATE, allow_inf_nan=False)]
    """The arrival rate as last read."""


class SharesDoc(DatedDoc):
    """What a pool's PoolDoc of the same `at` has no room for in format 1: the price each of
    its keep-alive levels was planned at (Level.share; None: priced by the pool's share of
    now), level by level, and what its keep-alive counted of its tail. Taken only with that
    PoolDoc: one from an earlier write (a leader of the release before this one wrote the
    pool since) prices levels it did not see."""

    AHEAD_S = CLOCK_AHEAD_S

    v: Literal[1] = 1
    at: Time
    """The `at` of the PoolDoc it was written with."""
    shares: list[Share | None] = Field(max_length=MAX_LEVELS)
    tail: TailDoc | None = None

    def latest(self) -> float:
        return self.at


class TickDoc(DatedDoc):
    AHEAD_S = CLOCK_AHEAD_S  # the old leader's last tick: read as `now` at the latest

    v: Literal[1] = 1
    at: Time

    def latest(self) -> float:
        return self.at


class BadValue(ValueError):
    pass


Doc = TypeVar("Doc", bound=DatedDoc)


def load_doc(model: type[Doc], raw: bytes, now: float, max_bytes: int = MAX_BYTES) -> Doc:
    """A value from a bucket, checked; BadValue says what is wrong, in one line."""
    if len(raw) > max_bytes:
        raise BadValue(f"{len(raw)} bytes, expected at most {max_bytes}")
    try:
        doc = model.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        newer = _newer_format(raw, model.FORMAT)
        if newer is not None:
            raise BadValue(newer) from None
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "value"
        raise BadValue(f"{where}: {error['msg']}") from None
    latest = doc.latest()
    ahead = latest - now
    if ahead > model.AHEAD_S:
        said = f"time {latest:.15g} is {ahead:,.4g} s after now, more than {model.AHEAD_S:g} s"
        raise BadValue(said)
    return doc


def _newer_format(raw: bytes, known: int) -> str | None:
    """What to say of a document of a format above `known`, if it is one: a newer release's,
    not to be read by this one's rules (its fields may mean something else)."""
    try:
        v = json.loads(raw).get("v")
    except (ValueError, AttributeError, RecursionError):  # not JSON, not an object, or nested
        return None  # deeper than json.loads follows: pydantic refused it already
    if isinstance(v, int) and not isinstance(v, bool) and v > known:
        return f"v: format {v}, newer than the {known} this agentdash reads"
    return None


def dump_doc(pool: PoolHistory, now: float, live: bool) -> bytes:
    """`pool` as the bucket keeps it: only what is still inside its windows."""
    doc = {
        "v": 1,
        "at": now,
        "live": live,
        "busy_at": pool.busy_at,
        "lows": _inside(pool.lows, now - pool.up_window),
        "highs": _inside(pool.highs, now - pool.down_window),
        "steps": _inside(pool.steps, now - pool.keep_steps),
        "keep": _keep_doc(pool.keep) if pool.keep is not None else None,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _keep_doc(keep: KeepAlive) -> dict[str, Any]:
    levels = [
        {
            "replicas": level.replicas,
            "in_use": level.in_use,
            "last_used": level.last_used,
            "peak": level.peak,
            "gaps": list(level.gaps),
        }
        for level in keep.levels
    ]
    return {
        "value": keep.value,
        "latest": keep.latest,
        "levels": levels,
        "held": [],
        "heads": list(keep.wakes.heads),
        "taken": keep.taken,
    }


def dump_shares(pool: PoolHistory, now: float) -> bytes | None:
    """The SharesDoc to write with `pool`'s PoolDoc at `now` (None: no level has a price and
    nothing of the tail is counted)."""
    keep = pool.keep
    if keep is None:
        return None
    tail = keep.tail
    counted = bool(tail.cycles) or tail.arrived > 0
    if not counted and all(level.share is None for level in keep.levels):
        return None
    doc: dict[str, Any] = {"v": 1, "at": now, "shares": [level.share for level in keep.levels]}
    if counted:
        cycles = [(c.gap_s, c.arrived, c.waited) for c in tail.cycles]
        doc["tail"] = {"cycles": cycles, "arrived": tail.arrived, "rate": tail.rate}
    return json.dumps(doc, separators=(",", ":")).encode()


def keep_of(
    doc: KeepDoc,
    pool: PoolConfig,
    latest: float | None,
    now: float,
    shares: Sequence[float | None] = (),
    tail: TailDoc | None = None,
) -> KeepAlive:
    """The keep-alive a document describes, for `pool` as configured here: levels that do
    not start where this pool's bands start (another max_replicas) are left out. `shares`
    and `tail`: each level's price and the tail counted, from the SharesDoc written with it
    (none: as the level says, and nothing counted)."""
    keep = KeepAlive.for_pool(pool)
    keep.value = min(doc.value, pool.max_replicas)
    keep.latest = latest
    for k, (edge, level) in enumerate(zip(keep.edges, doc.levels, strict=False)):
        if level.replicas != edge:
            break
        restored = keep.band(k)
        restored.in_use = level.in_use
        restored.last_used = min(level.last_used, now) if level.last_used is not None else None
        restored.peak = min(level.peak, restored.top)
        restored.remember(level.gaps)
        restored.share = shares[k] if k < len(shares) else level.share
        keep.levels.append(restored)
    heads = (min(h, pool.max_replicas) for h in doc.heads)
    keep.wakes.heads = deque(heads, maxlen=KEPT_GAPS)
    keep.taken = doc.taken
    if tail is not None:
        cycles = (
            Cycle(gap_s=gap, arrived=arrived, waited=woken) for gap, arrived, woken in tail.cycles
        )
        keep.tail = Tail(
            cycles=deque(cycles, maxlen=KEPT_CYCLES), arrived=tail.arrived, rate=tail.rate
        )
    return keep


def _inside(entries: Sequence[tuple[float, int]], since: float) -> list[tuple[float, int]]:
    kept = [entry for entry in entries if entry[0] > since]
    return kept[-MAX_ENTRIES:]


_PLAIN = re.compile(r"[-_=A-Za-z0-9]+")


POOL = "pool"
SHARES = "shares"
"""The kinds of a pool's keys: its PoolDoc, its SharesDoc."""


def key_of(pool: str, kind: str = POOL) -> str:
    """The pool's key of that kind: `pool.<name>`, or `pool_hex.<its UTF-8 in hex>` where the
    name has characters a key cannot hold (`shares.`, `shares_hex.` likewise)."""
    return f"{kind}.{pool}" if _PLAIN.fullmatch(pool) else f"{kind}_hex.{pool.encode().hex()}"


def pool_of(key: str, kind: str = POOL) -> str | None:
    """The pool a key of that kind is for (None: not such a key)."""
    prefix, _, rest = key.partition(".")
    if prefix == kind and _PLAIN.fullmatch(rest):
        return rest
    if prefix == f"{kind}_hex":
        try:
            return bytes.fromhex(rest).decode()
        except ValueError:
            return None
    return None


def extended(entries: list[Entry], at: float, to: float, now: float) -> list[Entry]:
    """Times no later than `now` (a clock a little ahead elsewhere), and the newest entry,
    if it was recorded at `at`, recommended until `to`."""
    kept = [(t if t < now else now, value) for t, value in entries]
    if kept and entries[-1][0] == at:
        kept[-1] = (to, kept[-1][1])
    return kept
