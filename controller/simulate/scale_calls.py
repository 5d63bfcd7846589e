"""The scale calls of the backtest's shell: the Kubernetes client's token bucket
(`kubernetes.qps`, `.burst`), and the pools whose change waits for a token.

The live client's limiter lets calls through in the order they were asked, and the live loop
asks in pool order; so a change that waits is made before any later pool's, at the first tick
with a token. The waiting pools are kept in pool order (a heap), so that a tick with no token
to spare costs nothing for them: on a fleet whose changes outrun the bucket, thousands may
wait at every tick, and their decisions stand (controller.core.engine claims a pool again only
when what it reads moves).
"""

from __future__ import annotations

import heapq


class ScaleCalls:
    def __init__(self, qps: float, burst: float) -> None:
        self.qps = qps
        self.burst = burst
        self.tokens = burst
        """What the bucket holds: a call takes one."""
        self.refilled = 0.0
        """When it was last refilled."""
        self._heap: list[int] = []
        self._in_heap: set[int] = set()
        self._waiting: set[int] = set()
        """The pools whose change waits; the heap may still hold pools no longer waiting
        (their decision changed back), passed over when they reach its top, or taken as
        they are should they wait again (a pool is in the heap once at most)."""

    def refill(self, now: float) -> None:
        tokens = self.tokens + self.qps * (now - self.refilled)
        self.tokens = tokens if tokens < self.burst else self.burst
        self.refilled = now

    def take(self) -> bool:
        """Take a token for a call, if the bucket has one."""
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    def has_token(self) -> bool:
        return self.tokens >= 1.0

    def wait(self, pool: int) -> None:
        """The pool's change waits for a later token."""
        self._waiting.add(pool)
        if pool not in self._in_heap:
            self._in_heap.add(pool)
            heapq.heappush(self._heap, pool)

    def done(self, pool: int) -> None:
        """The pool has no change waiting any more (made, or no longer wanted)."""
        self._waiting.discard(pool)

    def first(self) -> int | None:
        """The waiting pool first in pool order, if any."""
        heap = self._heap
        while heap and heap[0] not in self._waiting:
            self._in_heap.discard(heapq.heappop(heap))
        return heap[0] if heap else None

    @property
    def waiting(self) -> int:
        """How many pools' changes wait."""
        return len(self._waiting)
