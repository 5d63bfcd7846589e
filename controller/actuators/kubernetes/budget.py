"""The client's budget for the Kubernetes API: a token bucket whose waiters are served by
priority, not by arrival, and what a round trip to the API takes now.

A fleet of many pools easily wants more calls than `qps` allows, and then the order of the
queue decides what the controller can still do. Arrival order put the lease's renewal and
the reads that decide whether a pool may be scaled behind hundreds of idle pools'
scale-downs, and a pool flooded with work behind them too. Here the queue is ordered by what
each call is for (`Band`): the lease first, then discovery (the lists and watches that say
what exists and who else scales it), wakes from zero, scale-ups (higher tier, then bigger
change, first), other reads, scale-downs, and last the annotations and Events that say why.
Within a place, the older call goes first.

The bucket has aiolimiter's semantics (which it replaces): `burst` calls at once, refilled
at `qps` a second; a call that gives up its place while it waits uses nothing.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple


class Band(IntEnum):
    """What a call is for, in the order calls are served."""

    LEASE = 0
    """Renewing or taking the leader's lease: every write depends on it."""
    DISCOVERY = 1
    """Lists and watches of what exists (Deployments, pods, HPAs, ScaledObjects), and the
    read-back of a write whose answer was lost: without them pools are held."""
    WAKE = 2
    """A scale from zero replicas: work is waiting and nothing serves it."""
    SCALE_UP = 3
    READ = 4
    """Any other read."""
    SCALE_DOWN = 5
    """Gives capacity back: nothing waits for it."""
    EXPLAIN = 6
    """The annotation and Event that say why a pool was scaled, after it was."""


class Priority(NamedTuple):
    """A call's place in the queue: by band, then higher tier, then bigger change."""

    band: Band
    tier: int = 0
    """The pool's tier priority (higher first), where known."""
    size: int = 0
    """How many replicas the change moves (bigger first)."""

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.band, -self.tier, -self.size)


LEASE = Priority(Band.LEASE)
DISCOVERY = Priority(Band.DISCOVERY)
READ = Priority(Band.READ)
EXPLAIN = Priority(Band.EXPLAIN)


def scale_priority(current: int, desired: int, tier: int = 0) -> Priority:
    """Where a scale from `current` to `desired` replicas goes in the queue."""
    if desired < current:
        return Priority(Band.SCALE_DOWN, tier, current - desired)
    band = Band.WAKE if current == 0 else Band.SCALE_UP
    return Priority(band, tier, desired - current)


@dataclass(eq=False, slots=True)
class _Entry:
    turn: Turn
    live: bool = True


class Turn:
    """One call's wait for the budget. Its priority may change while it waits (a pool's
    newer desire): `reprioritize` moves it in the queue."""

    def __init__(self, priority: Priority) -> None:
        self.priority = priority
        self.future: asyncio.Future[None] | None = None
        self._bucket: PriorityBucket | None = None
        self._entry: _Entry | None = None

    def reprioritize(self, priority: Priority) -> None:
        if priority == self.priority:
            return
        self.priority = priority
        if self._bucket is not None and self._entry is not None and self._entry.live:
            self._entry.live = False
            self._bucket._push(self)

    @property
    def waiting(self) -> bool:
        return self.future is not None and not self.future.done()


@dataclass(slots=True)
class PriorityBucket:
    """`burst` tokens, refilled at `qps` a second; waiters served by `Turn.priority`."""

    qps: float
    burst: int
    _tokens: float = field(init=False)
    _at: float | None = None
    _queue: list[tuple[tuple[int, int, int], int, _Entry]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)
    _timer: asyncio.TimerHandle | None = None

    def __post_init__(self) -> None:
        if self.qps <= 0 or self.burst < 1:
            raise ValueError("qps must be above 0 and burst at least 1")
        self._tokens = float(self.burst)

    @property
    def waiting(self) -> int:
        """Calls waiting for a token now."""
        return sum(1 for _, _, entry in self._queue if entry.live)

    async def take(self, turn: Turn) -> None:
        """Wait for a token, in `turn`'s place. Cancelled while it waits, it uses none; a
        token granted to a call cancelled before it could use it goes back."""
        loop = asyncio.get_running_loop()
        self._refill(loop.time())
        if not self._queue and self._tokens >= 1:
            self._tokens -= 1
            return
        turn.future = loop.create_future()
        turn._bucket = self
        self._push(turn)
        self._schedule(loop, 0.0 if self._tokens >= 1 else None)
        try:
            await turn.future
        except asyncio.CancelledError:
            if turn.future.done() and not turn.future.cancelled():
                self.refund()  # granted, but its call was cancelled before it could go
            elif turn._entry is not None:
                turn._entry.live = False
            raise
        finally:
            turn._bucket = None

    def refund(self) -> None:
        """Give back a token that was granted and not used (the call sent nothing)."""
        self._tokens = min(float(self.burst), self._tokens + 1)
        if self._queue:
            self._schedule(asyncio.get_running_loop(), 0.0)

    def _push(self, turn: Turn) -> None:
        entry = _Entry(turn)
        turn._entry = entry
        heapq.heappush(self._queue, (turn.priority.key, next(self._order), entry))

    def _refill(self, now: float) -> None:
        if self._at is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.qps)
        self._at = now

    def _schedule(self, loop: asyncio.AbstractEventLoop, delay: float | None) -> None:
        if delay is None:
            delay = max(0.0, (1 - self._tokens) / self.qps)
        if self._timer is not None:
            if delay > 0:
                return  # the one booked is as soon
            self._timer.cancel()
        self._timer = loop.call_later(delay, self._serve)

    def _serve(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        self._refill(loop.time())
        queue = self._queue
        while queue and self._tokens >= 1:
            _, _, entry = heapq.heappop(queue)
            future = entry.turn.future
            if not entry.live or future is None or future.done():
                continue
            entry.live = False
            self._tokens -= 1
            future.set_result(None)
        while queue and not queue[0][2].live:
            heapq.heappop(queue)
        if queue:
            self._schedule(loop, None)


class RoundTrip:
    """What an answer from the API takes now: a high percentile of the last answers about
    one object (reads and writes; a list's time grows with what it lists), and never less
    than `floor_s`. A write goes out only if at least this much of its deadline is left: one
    that could not be answered in time would land unseen."""

    def __init__(self, *, floor_s: float = 0.05, keep: int = 32, share: float = 0.9) -> None:
        self.floor_s = floor_s
        self._share = share
        self._seconds: deque[float] = deque(maxlen=keep)

    def record(self, seconds: float) -> None:
        self._seconds.append(seconds)

    def estimate(self) -> float:
        if not self._seconds:
            return self.floor_s
        ordered = sorted(self._seconds)
        return max(self.floor_s, ordered[int(self._share * (len(ordered) - 1))])
