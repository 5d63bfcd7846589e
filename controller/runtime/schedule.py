"""When the live loop ticks: at a fixed period, at once when a pool wakes from zero, and less
often, with backoff, while a source that every pool needs fails.

Ticks keep a fixed period: each is due one interval after the previous one was due, not one
interval after it ended, so the period does not drift by the tick's own cost. A tick that
overran its period is followed by the next at once, and the deadlines start again from there:
the ticks it missed are skipped, never run back to back. A pool that wakes is read at once,
between deadlines; a failing source stretches the wait with backoff, from the failed tick,
and `now` ends the wait when it is back (NATS reconnected), so the lease is renewed at once.
The loop may renew its lease during a pause (`left`, `woken`): a tick can be further off than
the lease lasts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection

MAX_BACKOFF_S = 8.0


class TickSchedule:
    """The next tick's due time, the backoff, and the pools woken since the last tick."""

    def __init__(
        self,
        timer: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._timer = timer
        """What the period is kept by (monotonic: the wall clock may jump)."""
        self._sleep = sleep
        self._due = 0.0
        self._backoff = 0.0
        self._scheduled = True
        """Whether the tick under way was due (else a wake-up's)."""
        self._woken: set[str] = set()
        self._wake = asyncio.Event()

    def wake(self, pool: str) -> None:
        """A task reached `pool` at zero replicas: tick now for it."""
        self._woken.add(pool)
        self._wake.set()

    def now(self) -> None:
        """Tick at once, every pool, whatever the backoff (what every pool needs is back)."""
        self._due = self._timer()
        self._backoff = 0.0
        self._wake.set()

    def start(self) -> None:
        """The first tick is due now."""
        self._due = self._timer()
        self._backoff = 0.0

    def begin_tick(self) -> Collection[str] | None:
        """A tick begins: the pools whose queues it reads again, or None for every pool (the
        tick was due, or no pool says it woke)."""
        woken, self._woken = self._woken, set()
        self._wake.clear()
        self._scheduled = self._timer() >= self._due
        return None if self._scheduled else woken or None

    def end_tick(self, interval: float, *, failing: bool) -> float:
        """The tick ended: book the next one (`failing`: a source every pool needs fails).
        The seconds until it is due."""
        now = self._timer()
        if self._scheduled:
            self._due = max(self._due + interval, now)
        self._backoff = min(MAX_BACKOFF_S, max(interval, self._backoff * 2)) if failing else 0.0
        if self._backoff:
            self._due = now + self._backoff
        return self._due - now

    def left(self) -> float:
        """Seconds until the next tick is due (below 0: overdue)."""
        return self._due - self._timer()

    @property
    def woken(self) -> bool:
        """Whether a pool woke, or `now` was called, since the tick began: it is due now."""
        return self._wake.is_set()

    async def pause(self, stop: asyncio.Event, seconds: float) -> None:
        """Until `seconds` have passed, `stop` is set or a pool wakes, whichever is first."""
        waiters = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self._sleep(max(0.0, seconds))),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
