"""The tasks each pool's subject showed arriving, counted once JetStream shows them stored.

A plain subscription to a pool's subject sees every message published there, stored or not:
a duplicate of a task already stored (the same Nats-Msg-Id, which JetStream drops), a publish
the stream refuses (headers over its limit, a wrong expected sequence, a full stream). A
producer sending those, on purpose or by retrying, scaled pools up on arrivals that never
queued. So an arrival counts only once the pool's consumer shows it: between two reads, the
tasks the stream stored for the pool are its pending tasks' growth plus the deliveries made
meanwhile (each stored task is pending until delivered; a redelivery counts as well, so this
is an upper bound). Arrivals beyond that wait one more read, since the consumer's count can
lag a publish by a moment, and are then dropped from the rate and counted as `unstored`.

Tasks the consumer shows stored before the subscription has seen them (it reads behind, as
under a flood on another pool: one connection sees every pool's subject) are credited for
CREDIT_READS reads, and the late arrivals count against that credit: else a flood of stored
tasks was counted as tens of thousands not stored, and real arrivals left the rate. The rate
still never counts more tasks than the consumer showed stored.

Arrivals are kept as counts a second (`Window`), not one by one: a producer flooding a
subject with stored tasks took a daemon from 67 MB to 150 MB in 30 s, one float an arrival,
bounded only by how fast it read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from controller.core.record import Record


class Consumer(Record):
    """What a read of a pool's consumer says of the tasks stored for it."""

    FIELDS = ("pending", "delivered")
    __slots__ = FIELDS

    pending: int
    """Tasks stored and not yet delivered."""
    delivered: int
    """Deliveries made so far, redeliveries included (the consumer's sequence)."""

    def __init__(self, *, pending: int, delivered: int) -> None:
        self.pending = pending
        self.delivered = delivered

    def stored_since(self, before: Consumer) -> int:
        """At most how many tasks were stored for the pool since `before` (0 where the
        consumer was made again meanwhile: its sequence starts over)."""
        grown = self.pending - before.pending + self.delivered - before.delivered
        return grown if grown > 0 else 0


BUCKET_S = 1.0
"""Arrivals within this long of the first in a bucket share its count."""


class _Bucket:
    __slots__ = ("count", "first", "last")

    def __init__(self, at: float) -> None:
        self.first = self.last = at
        self.count = 1


class Window:
    """A pool's arrival times, counted in buckets of BUCKET_S: at most one bucket a second
    of the rate window, whatever the rate. A bucket leaves the window with its newest
    arrival, so an arrival stays counted at most BUCKET_S longer than it would alone."""

    def __init__(self) -> None:
        self._buckets: deque[_Bucket] = deque()
        self._total = 0

    def __len__(self) -> int:
        return self._total

    def add(self, at: float) -> None:
        buckets = self._buckets
        if buckets and at - buckets[-1].first < BUCKET_S:
            newest = buckets[-1]
            newest.count += 1
            newest.last = max(newest.last, at)
        else:
            buckets.append(_Bucket(at))
        self._total += 1

    def expire(self, before: float) -> None:
        """Forget the buckets whose every arrival is at or before `before`."""
        buckets = self._buckets
        while buckets and buckets[0].last <= before:
            self._total -= buckets.popleft().count

    def drop(self, count: int, after: int) -> None:
        """Forget `count` arrivals older than the newest `after`."""
        skip, left = after, count
        for bucket in reversed(self._buckets):
            if left <= 0:
                break
            kept = min(skip, bucket.count)
            skip -= kept
            gone = min(left, bucket.count - kept)
            bucket.count -= gone
            left -= gone
            self._total -= gone
        self._buckets = deque(b for b in self._buckets if b.count > 0)


CREDIT_READS = 30
"""How many reads a task shown stored and not yet seen stays credited (30 s at 1 s ticks, the
rate window): long enough for a subscription reading behind, too short for a stored task the
subscription never saw to stand for a copy much later."""


class _Credit:
    """Tasks shown stored at one read that the subscription had not seen yet."""

    __slots__ = ("count", "reads_left")

    def __init__(self, count: int) -> None:
        self.count = count
        self.reads_left = CREDIT_READS


class Arrivals:
    def __init__(self, pools: Iterable[str]) -> None:
        names = list(pools)
        self.times: dict[str, Window] = {pool: Window() for pool in names}
        """Per pool, when each counted task arrived (the rate window's are kept by the source)."""
        self.unread = dict.fromkeys(names, 0)
        """Per pool, tasks seen since its consumer was last read."""
        self._waiting = dict.fromkeys(names, 0)
        """Per pool, tasks seen before the last read that it did not show stored."""
        self._last: dict[str, Consumer] = {}
        self.stored = dict.fromkeys(names, 0)
        """Per pool, at most how many tasks its consumer showed stored at its last read."""
        self._credit: dict[str, deque[_Credit]] = {pool: deque() for pool in names}
        """Per pool, tasks shown stored that the subscription had not seen yet, oldest
        first."""

    def waiting(self, pool: str) -> bool:
        """Whether tasks seen before the last read still wait to show stored: the pool's
        consumer is read again at the next tick."""
        return self._waiting[pool] > 0

    def counted(self, pool: str) -> int:
        """How many of `times` count in the rate: those the pool's consumer has shown stored.
        The newest ones still waiting to show (and those seen since the last read) are not
        arrivals yet: the engine decides on every read's rate, and 300 copies of one task,
        in the rate for the one read before they were dropped, took an idle pool to 4
        replicas."""
        counted = len(self.times[pool]) - self._waiting[pool] - self.unread[pool]
        return counted if counted > 0 else 0

    def seen(self, pool: str, now: float) -> None:
        self.times[pool].add(now)
        self.unread[pool] += 1

    def read(self, pool: str, consumer: Consumer | None) -> int:
        """The pool's consumer as read now (None: not found); how many of the tasks seen it
        shows were never stored, now dropped from `times`."""
        unread, self.unread[pool] = self.unread[pool], 0
        before = self._last.pop(pool, None)
        if consumer is None or before is None:  # nothing to compare with: taken as seen
            self._waiting[pool] = 0
            self.stored[pool] = 0
            if consumer is not None:
                self._last[pool] = consumer
            return 0
        self._last[pool] = consumer
        claimed = self._waiting[pool] + unread
        stored = self.stored[pool] = consumer.stored_since(before)
        beyond = claimed - stored - self._spend_credit(pool, claimed - stored)
        if beyond <= 0:
            self._waiting[pool] = 0
            if beyond < 0:  # shown stored, not seen yet: the subscription reads behind
                self._credit[pool].append(_Credit(-beyond))
            return 0
        waiting = beyond if beyond < unread else unread  # this read's: one more read to show
        self._waiting[pool] = waiting
        refuted = beyond - waiting
        if refuted:
            self._drop(pool, refuted, after=unread)
        return refuted

    def _spend_credit(self, pool: str, wanted: int) -> int:
        """Up to `wanted` of the pool's credit, oldest first, spent; a read older than
        CREDIT_READS is forgotten."""
        credit, spent = self._credit[pool], 0
        for entry in credit:
            take = max(0, min(wanted - spent, entry.count))
            entry.count -= take
            spent += take
            entry.reads_left -= 1
        while credit and (credit[0].count <= 0 or credit[0].reads_left <= 0):
            credit.popleft()
        return spent

    def _drop(self, pool: str, count: int, after: int) -> None:
        """Drop `count` arrivals from before the newest `after` (those seen since the last
        read, still waiting to show): the ones that waited a read and did not."""
        self.times[pool].drop(count, after)
