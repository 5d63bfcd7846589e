"""Each tenant's tokens today survive a restart and a failover: a process counts the workers'
usage reports only from when it starts, and a hard cap read from a count that starts at zero
would be spent again (controller.sources.usage.TokenLedger).

The leader writes each tenant's count, by the minute of its budget day
(controller.core.tokens_today), and its pools' tokens a task, to the bucket `agentdash_spend`
(key `usage.<tenant>`), at most every SAVE_S. Every process merges the bucket into its own
count when it starts, again when it becomes leader, and as a follower every SAVE_S: minute by
minute, the larger count, so a report is not counted twice and the morning a successor missed
is not missed. A count of
another budget day is not taken.

What comes in is checked (UsageDoc: finite, bounded numbers; minutes within a day; a day
begun by `now` + SKEW_S); a value that fails is ignored, counted and logged: never a crash. A
count written later than `now` (its writer's clock ahead of this one's, or this host's clock
stepped back since) is taken, merged minute by minute as one made beside this count: refused,
the tenant's hard cap would be counted from zero and spent again.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Annotated, Literal, Protocol

from nats.aio.client import Client
from pydantic import Field

from controller.coordination import spend_handover
from controller.coordination.bucket import NATS_TROUBLE, BucketKeeper, read_values
from controller.coordination.history_docs import DatedDoc
from controller.core.accounting import TokensATask
from controller.core.bad_messages import BadMessages
from controller.core.config import Config
from controller.core.tokens_today import TokensToday

SAVE_S = 10.0
"""How often a tenant whose count moved is written: a process started after its predecessor
died misses at most the reports of this long before (a follower that was up misses none). A
leader that stops in order writes what moved since, whenever it was last written."""
MAX_BYTES = 64 * 1024
MINUTES = 25 * 60
"""Minutes a budget day may have (25 h where clocks go back)."""
MAX_COUNT = 10**15

Time = Annotated[float, Field(allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Minute = Annotated[int, Field(ge=0, lt=MINUTES)]
Mean = Annotated[float, Field(ge=0, le=float(MAX_COUNT), allow_inf_nan=False)]


class UsageDoc(DatedDoc):
    """One tenant's count today in the bucket."""

    v: Literal[1] = 1
    at: Time
    """When it was written (the save's `now`)."""
    day: Time
    """The start of the budget day it counts."""
    minutes: list[tuple[Minute, Count, Count]] = Field(max_length=MINUTES)
    """(minute of the day, tokens, tasks) for each minute a report came in."""
    prices: dict[str, tuple[Mean, Mean]] = Field(max_length=10_000)
    """Per pool of the tenant: the tokens and tasks its price is counted from."""

    def latest(self) -> float:
        return self.day  # `at` may be ahead: restore reads it as now at the latest


class Ledger(Protocol):
    """What is handed over of a count of the workers' reports
    (controller.sources.usage.TokenLedger)."""

    def today(self, tenant: str, now: float) -> TokensToday: ...

    def prices(self, tenant: str) -> dict[str, TokensATask]: ...


def key_of(tenant: str) -> str:
    return f"usage.{tenant}"


class UsageHandover(BucketKeeper):
    WHAT = "usage"
    BUCKET = spend_handover.BUCKET  # the spend's bucket: its own keys, `usage.<tenant>`
    TTL_S = spend_handover.TTL_S
    MAX_BYTES = MAX_BYTES
    BUCKET_BYTES = spend_handover.BUCKET_BYTES

    def __init__(
        self,
        nc: Client,
        config: Config,
        ledger: Ledger,
        *,
        timeout: float = 2.0,
        bad: BadMessages | None = None,
    ) -> None:
        super().__init__(nc, timeout=timeout, bad=bad)
        self._config = config
        self._ledger = ledger
        self._written: dict[str, tuple[float, int, int, float]] = {}
        """Per tenant as last written: its day, tokens and tasks, and when."""
        self._asked = -math.inf
        """When a save with nothing to write last asked whether the bucket is still there."""
        self.missing: list[str] = []
        """The tenants whose count of today the last restore did not find (none written, or
        refused): counted from the reports this process has read alone."""
        self._followed = -math.inf
        """When a follower last asked for the leader's count (`follow`)."""
        self._following: asyncio.Task[None] | None = None
        """A follower's read of the leader's count on its way, apart from the tick."""

    def forget_written(self) -> None:
        self._written.clear()

    async def restore(self, now: float) -> int:
        """Merge the bucket's counts of today into the ledger's; how many tenants it gave.
        Never raises for NATS or bad values."""
        self.missing = list(self._config.tenants)  # until the bucket says otherwise
        values = await self.fetched(self._read())
        if values is None:
            return 0
        restored, self.missing = self._merge(values, now)
        self.tell()
        return restored

    def follow(self, now: float) -> asyncio.Task[None] | None:
        """A follower's merge of the leader's count, at most every SAVE_S: the reports sent
        between the leader's last write and this process's start reached the leader alone,
        and a dashboard's tokens today lacked them for the rest of the day. Read apart from
        the tick, within the timeout, and merged as it lands: waited for at the end of a tick,
        a NATS that does not answer (stalled, its connection open) held that tick, and the
        dashboard's refresh and /healthz with it, for the timeout every SAVE_S. Until a read
        lands the count is the last one known; one still on its way is not asked again.
        Returns the read it started, if it started one. Quiet: a value refused was said at
        the start and is said again by the restore on leading, and a NATS away is said by
        the sources, and not asked. Never raises for NATS or bad values."""
        if self._following is not None and not self._following.done():
            return None
        if self._kv is None or not self._nc.is_connected or now < self._followed + SAVE_S:
            return None  # away: a read would only wait out its timeout
        self._followed = now
        self._following = asyncio.create_task(self._take_in(now), name="follow the usage")
        return self._following

    async def _take_in(self, now: float) -> None:
        """Read the leader's count and merge it, or nothing if NATS does not answer in time."""
        try:
            values = await asyncio.wait_for(self._read(), self.timeout)
        except NATS_TROUBLE:
            return
        self._merge(values, now)
        self._refused, self._unknown = [], []

    async def stop_following(self) -> None:
        """Drop a follower's read on its way (the process stops)."""
        reading, self._following = self._following, None
        if reading is not None:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)

    def _merge(self, values: dict[str, bytes], now: float) -> tuple[int, list[str]]:
        """Merge today's counts among `values`: how many tenants gave one, and which did not."""
        restored = 0
        missing = [tenant for tenant in self._config.tenants if tenant not in values]
        for tenant, raw in values.items():
            doc = self.load(UsageDoc, key_of(tenant), raw, now)
            today = self._ledger.today(tenant, now)
            if doc is None or doc.day != today.start:  # refused, or another budget day's
                missing.append(tenant)
                continue
            minutes = {m: (tokens, tasks) for m, tokens, tasks in doc.minutes}
            today.merge(minutes, doc.at if doc.at < now else now)
            prices = self._ledger.prices(tenant)
            for pool, (tokens, tasks) in doc.prices.items():
                price = prices.get(pool)
                if price is not None and tasks > price.tasks:
                    price.tokens, price.tasks = tokens, tasks
            restored += 1
        return restored, missing

    async def _read(self) -> dict[str, bytes]:
        return await read_values(self._kv, {t: key_of(t) for t in self._config.tenants})

    async def save(self, now: float, *, last: bool = False) -> None:
        """Write the tenants whose count moved, at most every SAVE_S; the `last` save of a
        leader that stops, every count that moved since it was written. Never raises."""
        if not await self.may_save(lambda: self.restore(now)):
            return
        changed = []
        for tenant in self._config.tenants:
            today = self._ledger.today(tenant, now)
            mark = (today.start, today.tokens, today.tasks, now)
            written = self._written.get(tenant)
            recent = not last and written is not None and now < written[3] + SAVE_S
            if written is not None and (written[:3] == mark[:3] or recent):
                continue
            changed.append((tenant, mark, self._dump(tenant, now)))
        if not changed and now < self._asked + SAVE_S:
            return
        if await self.stored(self._write(changed)) and not changed:
            self._asked = now

    def _dump(self, tenant: str, now: float) -> bytes:
        today = self._ledger.today(tenant, now)
        doc = {
            "v": 1,
            "at": now,
            "day": today.start,
            "minutes": [
                [m, tokens, tasks] for m, (tokens, tasks) in sorted(today.minutes().items())
            ],
            "prices": {
                pool: [price.tokens, price.tasks]
                for pool, price in self._ledger.prices(tenant).items()
                if price.tasks > 0
            },
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    async def _write(self, changed: list[tuple[str, tuple[float, int, int, float], bytes]]) -> None:
        if not changed:
            # A count that stopped moving (a tenant at its hard cap) is not written again:
            # ask whether the bucket is still there, or a NATS that lost its store would
            # keep it from a successor, which would then spend the cap again.
            await self._kv.status()
        for tenant, mark, value in changed:
            await self._kv.put(key_of(tenant), value)
            self._written[tenant] = mark
