"""The time rules' memory survives a failover: the leader keeps its History in NATS KV.

The stabilization windows, the rate policies' steps and the cooldown's last busy time live in
memory (controller.core.history). A leader killed mid-window, or one that hands over, would leave
its successor without them, and the successor would drop a pool that the down window was
holding (8 -> 4). So the leader writes them to the key-value bucket `agentdash_history`, and
a process that becomes leader loads the bucket before its first decision and merges it into
its own history (a follower records its own observations too: the merge keeps both).

Why KV rather than rebuilding from the Deployment annotation: the annotation says why the
last change was made, not what was recommended over the last 300 s nor which steps fall in a
rate period; keeping those in it would mean a Kubernetes PATCH at every change, and the
simulated cluster has no annotations. The lease already lives in NATS: whoever can lead can
read the bucket.

The bucket: one key per pool, `pool.<name>`, holding a small JSON document (PoolDoc): the
window entries, the steps and the last busy time, none past its window; beside it, where its
keep-alive levels have prices, `shares.<name>` (SharesDoc: the release before this one refuses
a PoolDoc with them in it, history_docs says why); and the key `tick`, the time of the
leader's last save. A pool is written again only when its history changed: a
window or the steps gained an entry (PoolHistory.changes), or it started or stopped being
recorded, or being busy; otherwise once every REFRESH_S, so that the bucket's TTL never takes
a live pool. The usual tick changes none of that and costs one small write, `tick`. What it
does move, the time of each pool's newest entry (and of its last busy time), is therefore
implied: a pool recorded at its last write went on being recorded with the same newest value
until the last `tick`, or it would have been written again. The successor reads it so, and
holds exactly what the old leader held at its last save.

What comes in is checked (PoolDoc: finite numbers, bounded lists and size; its format, as
history_docs reads every handover's documents); a value that fails is ignored, counted
(`agentdash_bad_messages_total{source="handover"}`) and logged once per restore: never a
crash. Its times
are read as `now` at the latest: a history written by a clock ahead of this one (another
host's, or this one's before an NTP step back) holds its pool's windows from now, not for
the skew. A value of a pool not in the config (one removed: its key expires
after TTL_S) is left alone, said at info level. A merge only adds entries to
the windows, so nothing read from the bucket makes a window let go sooner than it would
without it; it also adds steps, which the rate policies count, and gives a pool new to this
process the old leader's last busy time: only agentdash should be able to write the bucket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections import deque
from typing import NamedTuple

from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from controller.coordination.bucket import SAID, BucketKeeper
from controller.coordination.history_docs import (
    MAX_BYTES,
    SHARES,
    PoolDoc,
    SharesDoc,
    TickDoc,
    dump_doc,
    dump_shares,
    extended,
    keep_of,
    key_of,
    pool_of,
)
from controller.core.bad_messages import BadMessages
from controller.core.config import Config
from controller.core.history import History, PoolHistory

log = logging.getLogger("agentdash.handover")

BUCKET = "agentdash_history"
TICK_KEY = "tick"
TTL_S = 86400.0
"""How long the bucket keeps a key nobody rewrites: a removed pool's history goes by itself."""
REFRESH_S = TTL_S / 4
BUCKET_BYTES = 1024 * 1024 * 1024
"""The whole bucket: thousands of pools' histories, each a few kilobytes."""


class Mark(NamedTuple):
    """A pool as last written: its `changes`, whether it was recorded at that tick (live) and
    busy then, and when to write it again even if none of these changes."""

    changes: int
    live: bool
    busy: bool
    due: float


class PoolWrite(NamedTuple):
    """A pool to write: its PoolDoc, and its SharesDoc if it has one (None: no price)."""

    name: str
    mark: Mark
    doc: bytes
    shares: bytes | None


class HistoryHandover(BucketKeeper):
    """Saves the leader's History to the bucket, and restores it into a new leader's.

    Wiring (controller.runtime.loop.Reconciler): `await start()` once; `restore(history, now)`
    whenever this process becomes the leader (or starts as one), before that tick's
    decisions; `save(history, now)` at the end of each tick it leads, with the tick's `now`,
    after the tick's recommendations and scale steps are recorded."""

    WHAT = "history"
    BUCKET = BUCKET
    TTL_S = TTL_S
    MAX_BYTES = MAX_BYTES
    BUCKET_BYTES = BUCKET_BYTES

    def __init__(
        self, nc: Client, config: Config, *, timeout: float = 2.0, bad: BadMessages | None = None
    ) -> None:
        super().__init__(nc, timeout=timeout, bad=bad)
        self._config = config
        self._written: dict[str, Mark] = {}

    def forget_written(self) -> None:
        self._written.clear()

    async def restore(self, history: History, now: float) -> int:
        """Merge the bucket into `history`; how many pools it gave. Never raises for NATS or
        bad values: a failed read is retried by the next `save`, which writes nothing before
        a read has succeeded (it would overwrite a history with less)."""
        self._written.clear()  # write every pool once: the bucket may hold less than we do
        values = await self.fetched(self._read_all())
        if values is None:
            return 0
        tick = -math.inf
        if TICK_KEY in values:
            last = self.load(TickDoc, TICK_KEY, values.pop(TICK_KEY), now)
            tick = last.at if last is not None else tick
        shares: dict[str, bytes] = {}  # a removed pool's: left to expire, as its PoolDoc
        for key in list(values):
            owner = pool_of(key, SHARES)
            if owner is not None:
                shares[owner] = values.pop(key)
        restored = 0
        leftovers: list[str] = []
        for key, raw in sorted(values.items()):
            name = pool_of(key)
            if name is None or name not in self._config.pools:
                leftovers.append(key)
                continue
            doc = self.load(PoolDoc, key, raw, now)
            if doc is None:
                continue
            priced = self._shares(name, shares.get(name), doc, now)
            self._merge(history, name, doc, tick, now, priced)
            restored += 1
        self.tell()
        if leftovers:  # a pool removed from the config: its key goes by itself (TTL_S)
            shown = ", ".join(leftovers[:SAID]) + (", ..." if len(leftovers) > SAID else "")
            log.info(
                "history: %d value(s) of pools not configured, left to expire: %s",
                len(leftovers),
                shown,
            )
        return restored

    def _shares(self, name: str, raw: bytes | None, doc: PoolDoc, now: float) -> SharesDoc | None:
        """The SharesDoc written with `doc` (None: a leader that wrote none, or the release
        before this one, wrote the pool since)."""
        if raw is None or doc.keep is None:
            return None
        shares = self.load(SharesDoc, key_of(name, SHARES), raw, now)
        if shares is None or shares.at != doc.at or len(shares.shares) != len(doc.keep.levels):
            return None
        return shares

    def _merge(
        self,
        history: History,
        name: str,
        doc: PoolDoc,
        tick: float,
        now: float,
        shares: SharesDoc | None,
    ) -> None:
        limit = self._config.pools[name].max_replicas  # a recommendation never exceeds it
        to = doc.at if doc.at > tick else tick
        to = to if to < now else now
        at = doc.at if doc.live else math.nan  # nan: no entry is "from the last write"
        lows = extended([(t, min(v, limit)) for t, v in doc.lows], at, to, now)
        highs = extended([(t, min(v, limit)) for t, v in doc.highs], at, to, now)
        steps = [(t if t < now else now, delta) for t, delta in doc.steps]
        busy_at = doc.busy_at
        if busy_at is not None:
            busy_at = to if busy_at == at else min(busy_at, now)
        keep = None
        if doc.keep is not None:
            latest = doc.keep.latest
            if latest is not None:
                latest = to if latest == at else min(latest, now)
            pool = self._config.pools[name]
            if shares is None:
                keep = keep_of(doc.keep, pool, latest, now)
            else:
                keep = keep_of(doc.keep, pool, latest, now, shares.shares, shares.tail)
        theirs = PoolHistory(
            lows=deque(lows), highs=deque(highs), steps=deque(steps), busy_at=busy_at, keep=keep
        )
        history.merge_pool(name, theirs, now)

    async def _read_all(self) -> dict[str, bytes]:
        """Every key's value, by a pull consumer: it says up front how many there are (a
        watcher's "that was all" can come before a large value it is still receiving)."""
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
        )
        prefix = f"$KV.{BUCKET}."
        sub = await self._nc.jetstream().pull_subscribe(
            f"{prefix}>", stream=f"KV_{BUCKET}", config=config
        )
        values: dict[str, bytes] = {}
        try:
            pending = (await sub.consumer_info()).num_pending or 0
            while pending > 0:
                for msg in await sub.fetch(min(pending, 256), timeout=self.timeout):
                    pending = msg.metadata.num_pending
                    operation = msg.headers.get("KV-Operation") if msg.headers else None
                    if operation is None:  # not a deletion
                        values[msg.subject.removeprefix(prefix)] = msg.data
        finally:
            await sub.unsubscribe()
        return values

    async def save(self, history: History, now: float) -> None:
        """Write the pools whose history changed since the last save, then `tick`. Pools
        whose write fails stay to write at the next save. Never raises."""
        if await self.may_save(lambda: self.restore(history, now)):
            await self.stored(self._write(self._changed(history, now), now))

    def _changed(self, history: History, now: float) -> list[PoolWrite]:
        """The pools to write. Runs every tick for every pool: a tuple compare each when
        nothing changed."""
        written = self._written
        changed = []
        for name, pool in history.pools.items():
            lows = pool.lows
            live = bool(lows) and lows[-1][0] == now
            busy = live and pool.busy_at == now
            last = written.get(name)
            if (
                last is not None
                and last.changes == pool.changes
                and last.live == live
                and last.busy == busy
                and now < last.due
            ):
                continue
            mark = Mark(changes=pool.changes, live=live, busy=busy, due=now + REFRESH_S)
            doc, shares = dump_doc(pool, now, live), dump_shares(pool, now)
            changed.append(PoolWrite(name=name, mark=mark, doc=doc, shares=shares))
        return changed

    async def _write(self, changed: list[PoolWrite], now: float) -> None:
        async def put(write: PoolWrite) -> None:
            if write.shares is not None:  # first: the PoolDoc it goes with finds it there
                await self._kv.put(key_of(write.name, SHARES), write.shares)
                self.writes += 1
            await self._kv.put(key_of(write.name), write.doc)
            self.writes += 1
            self._written[write.name] = write.mark

        results = await asyncio.gather(*(put(c) for c in changed), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result  # the tick key waits until every pool is written
        await self._kv.put(TICK_KEY, json.dumps({"v": 1, "at": now}).encode())
        self.writes += 1
