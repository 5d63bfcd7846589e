"""The budget forecast's memory survives a failover: the leader keeps each budgeted tenant's
spend (controller.core.spend.TenantSpend) in NATS KV.

A tenant's hour-of-day profile takes days to learn, and its burn rate the last two hours: a
successor without them forecasts from nothing (no growth past warn_at for ten minutes, and no
profile until a day has passed) where the old leader knew the tenant's day. So the leader
writes them to the key-value bucket `agentdash_spend`, one key per budgeted tenant,
`tenant.<name>`, and a process that becomes leader reads them before its first decision and
merges them into its own (a follower samples its own usage too: the merge keeps, hour by hour,
whichever saw more days, and today's hours, the recent minutes and the tokens a task from
whichever saw more of them). Its own bucket, not the windows' (controller.coordination.handover):
a profile is kept a week without a leader (the windows' history a day), and a tenant is not a
pool.

A tenant is written when a day folded into its profile, and otherwise at most every SAVE_S
while it is sampled: its burn rate's minute buckets move at every tick, and a successor is
fine with them a minute old.

What comes in is checked (SpendDoc: finite numbers in bounds, lists of their fixed lengths);
a value that fails is ignored, counted (`agentdash_bad_messages_total{source="handover"}`)
and logged once per restore: never a crash. One written by a clock ahead of this one
(another host's) is taken, moved back to `now` (`spend_of`): refused, a successor a few
seconds behind its predecessor lost the tenant's hourly profile, days in the learning.
"""

from __future__ import annotations

import json
import math
from collections import deque
from typing import Annotated, Literal, NamedTuple

from nats.aio.client import Client
from pydantic import Field, model_validator

from controller.coordination.bucket import BucketKeeper, read_values
from controller.coordination.history_docs import CLOCK_AHEAD_S, DatedDoc
from controller.core.accounting import BudgetDay
from controller.core.bad_messages import BadMessages
from controller.core.burn import BUCKET_S, BUCKETS
from controller.core.config import Config
from controller.core.spend import SpendBook, TenantSpend
from controller.core.spend_profile import DAY_BINS, MAX_DAYS

BUCKET = "agentdash_spend"
TTL_S = 7 * 86400.0
"""How long the bucket keeps a tenant nobody rewrites: a week without a leader."""
SAVE_S = 60.0
MAX_BYTES = 64 * 1024
BUCKET_BYTES = 64 * 1024 * 1024
"""The whole bucket: a forecast a tenant, each at most MAX_BYTES."""
MAX_TOKENS = 1e18
"""Tokens (a day, or a second): beyond any budget the config allows."""

Time = Annotated[float, Field(allow_inf_nan=False)]
Tokens = Annotated[float, Field(ge=-MAX_TOKENS, le=MAX_TOKENS, allow_inf_nan=False)]
Rate = Annotated[float, Field(ge=0, le=MAX_TOKENS, allow_inf_nan=False)]
Hour = Annotated[float, Field(ge=0, le=86400.0, allow_inf_nan=False)]
Minute = Annotated[float, Field(ge=0, le=BUCKET_S, allow_inf_nan=False)]


class SpendDoc(DatedDoc):
    """One tenant's spend in the bucket."""

    AHEAD_S = CLOCK_AHEAD_S  # moved back to the reader's `now` (spend_of)

    v: Literal[1] = 1
    at: Time
    """When it was written (the save's `now`)."""
    day: tuple[Time, Time] | None
    """The budget day its hours today are for."""
    bins: list[Rate | None] = Field(min_length=DAY_BINS, max_length=DAY_BINS)
    days: list[Annotated[int, Field(ge=0, le=MAX_DAYS)]] = Field(
        min_length=DAY_BINS, max_length=DAY_BINS
    )
    today_tokens: list[Tokens] = Field(min_length=DAY_BINS, max_length=DAY_BINS)
    today_seconds: list[Hour] = Field(min_length=DAY_BINS, max_length=DAY_BINS)
    tokens: list[Tokens] = Field(max_length=BUCKETS + 1)
    seconds: list[Minute] = Field(max_length=BUCKETS + 1)
    bucket_start: Time | None
    task_tokens: Annotated[float, Field(ge=0, le=MAX_TOKENS, allow_inf_nan=False)]
    task_count: Annotated[float, Field(ge=0, le=MAX_TOKENS, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _consistent(self) -> SpendDoc:
        if len(self.tokens) != len(self.seconds):
            raise ValueError("tokens and seconds: expected lists of one length")
        if (self.bucket_start is None) != (not self.tokens):
            raise ValueError("bucket_start: expected a time exactly when there are buckets")
        if self.day is not None and not self.day[0] < self.day[1] <= self.day[0] + 90000:
            raise ValueError("day: expected (start, end) at most 25 h apart")
        return self

    def latest(self) -> float:
        """The latest time it holds that is past (a day's end is to come)."""
        times: list[float] = [self.at]
        if self.day is not None:
            times.append(self.day[0])
        if self.bucket_start is not None:
            times.append(self.bucket_start)
        return max(times)


def dump_doc(spend: TenantSpend, now: float) -> bytes:
    """`spend` as the bucket keeps it."""
    spend.settle()
    day = spend.day
    doc = {
        "v": 1,
        "at": now,
        "day": None if math.isnan(day.start) else [day.start, day.end],
        "bins": spend.bins,
        "days": spend.days,
        "today_tokens": spend.today_tokens,
        "today_seconds": spend.today_seconds,
        "tokens": list(spend.tokens),
        "seconds": list(spend.seconds),
        "bucket_start": None if not spend.tokens else spend.bucket_start,
        "task_tokens": spend.task_tokens,
        "task_count": spend.task_count,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def spend_of(doc: SpendDoc, like: TenantSpend, now: float) -> TenantSpend:
    """The spend a document describes, on `like`'s clock. Written by a clock ahead of this one
    (at `now`), its minute buckets move back by as much, so the burn rate reads its last two
    hours as ending now; and its hours of a budget day not begun here are left out (that clock
    passed the reset first). The profile of past days is the same on any clock."""
    ahead = doc.at - now if doc.at > now else 0.0
    spend = TenantSpend(like.clock)
    spend.bins = list(doc.bins)
    spend.days = list(doc.days)
    if doc.day is not None and doc.day[0] <= now:
        spend.day = BudgetDay(*doc.day)
        spend.today_tokens = list(doc.today_tokens)
        spend.today_seconds = list(doc.today_seconds)
    spend.tokens, spend.seconds = deque(doc.tokens), deque(doc.seconds)
    spend.bucket_start = doc.bucket_start - ahead if doc.bucket_start is not None else math.nan
    spend.task_tokens, spend.task_count = doc.task_tokens, doc.task_count
    return spend


def key_of(tenant: str) -> str:
    """The tenant's key (a tenant's name is a NATS name: a key may hold it as it is)."""
    return f"tenant.{tenant}"


class Written(NamedTuple):
    """A tenant's spend as last written: its `changes` and `samples` then, and when."""

    changes: int
    samples: int
    at: float


class SpendHandover(BucketKeeper):
    """Saves the leader's spend learners to the bucket, and restores them into a new
    leader's. Wired as HistoryHandover is (controller.runtime.loop.Reconciler): `await
    start()` once; `restore(book, now)` on becoming the leader, before that tick's decisions;
    `save(book, now)` at the end of each tick it leads."""

    WHAT = "spend"
    BUCKET = BUCKET
    TTL_S = TTL_S
    MAX_BYTES = MAX_BYTES
    BUCKET_BYTES = BUCKET_BYTES

    def __init__(
        self, nc: Client, config: Config, *, timeout: float = 2.0, bad: BadMessages | None = None
    ) -> None:
        super().__init__(nc, timeout=timeout, bad=bad)
        self._config = config
        self._written: dict[str, Written] = {}
        """Per tenant as last written: its `changes`, its samples, and when."""

    def forget_written(self) -> None:
        self._written.clear()

    async def restore(self, book: SpendBook, now: float) -> int:
        """Merge the bucket into `book`; how many tenants it gave. Never raises for NATS or
        bad values: a failed read is retried by the next `save`."""
        self._written.clear()
        values = await self.fetched(self._read(list(book.tenants)))
        if values is None:
            return 0
        restored = 0
        for tenant, raw in values.items():
            doc = self.load(SpendDoc, key_of(tenant), raw, now)
            if doc is None:
                continue
            mine = book.tenants[tenant]
            mine.merge(spend_of(doc, mine, now))
            restored += 1
        self.tell()
        return restored

    async def _read(self, tenants: list[str]) -> dict[str, bytes]:
        return await read_values(self._kv, {tenant: key_of(tenant) for tenant in tenants})

    async def save(self, book: SpendBook, now: float) -> None:
        """Write the tenants whose profile changed, or that were sampled and last written
        SAVE_S ago. Never raises."""
        if not await self.may_save(lambda: self.restore(book, now)):
            return
        changed = []
        for tenant, spend in book.tenants.items():
            mark = Written(changes=spend.changes, samples=spend.samples, at=now)
            last = self._written.get(tenant)
            recent = last is not None and (last.samples == mark.samples or now < last.at + SAVE_S)
            if last is not None and last.changes == mark.changes and recent:
                continue  # nothing new, or only samples, written less than SAVE_S ago
            changed.append((tenant, mark, dump_doc(spend, now)))
        await self.stored(self._write(changed))

    async def _write(self, changed: list[tuple[str, Written, bytes]]) -> None:
        for tenant, mark, value in changed:
            await self._kv.put(key_of(tenant), value)
            self.writes += 1
            self._written[tenant] = mark
