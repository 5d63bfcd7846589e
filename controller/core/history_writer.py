"""What the reconcile engine (controller.core.engine) writes to each pool's history, and when.

The engine claims a pool again only when its decision can have changed, so the history is
written lazily: a recommendation that stood unclaimed is recorded as of the last step when
the pool is next claimed (the windows' monotonic deques reduce a run of equal entries to its
last), and the arrivals of a pool read with a new rate or lag are counted for its keep-alive
whether it is claimed again or not. Each pool's `PoolHistory` entry is kept at hand on its
`TrackedPool`, made when first written.
"""

from __future__ import annotations

from controller.core.history import History
from controller.core.keepalive_levels import Pace
from controller.core.tracked import TrackedPool


class HistoryWriter:
    """Writes what the engine's pools read and recommended into its `History`."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.counted: set[int] = set()
        """Pools read with a new arrival rate or lag since the last step: their keep-alive
        counts the tasks arriving and waiting (controller.core.tail), claimed again or not."""

    def count_arrivals(self, pools: list[TrackedPool], now: float) -> None:
        """Tell the keep-alive of each pool `counted` (read with a new arrival rate or lag):
        it counts the tasks arrived at the rate before until now, and those waiting, as
        recording every tick would."""
        for i in self.counted:
            pool = pools[i]
            reading = pool.reading
            entry = pool.entry
            if entry is None:
                entry = pool.entry = self.history.pool(pool.name, now)
            if reading is not None and entry.keep is not None:
                entry.keep.tail.see(now, reading.arrival_rate, reading.lag)
        self.counted.clear()

    def record(
        self,
        pool: TrackedPool,
        recommendation: int,
        lagging: bool,
        now: float,
        *,
        read: bool = True,
    ) -> bool:
        """History.record_pool, with the pool's entry kept at hand; whether its keep-alive
        learned a gap (what it holds may differ now: the pool is to be claimed again). Not
        `read`: recorded as of an earlier step, before the pool's newest reading, whose pace
        is not then known."""
        entry = pool.entry
        if entry is None:
            entry = pool.entry = self.history.pool(pool.name, now)
        reading = pool.reading
        pace = None
        if reading is not None and read:
            pace = Pace(
                task_s=reading.mean_task_seconds, rate=reading.arrival_rate, lag=reading.lag
            )
        learned = entry.recommend(now, recommendation, pace)
        if lagging:  # the history's last busy time
            entry.busy_at = now
        return learned

    def unseen(self, pool: TrackedPool, held: int, now: float) -> None:
        """History.record_tick's PoolHistory.unseen, with the pool's entry kept at hand: a
        step the pool was not read at (stale) counts as busy at the replicas it held."""
        entry = pool.entry
        if entry is None:
            entry = pool.entry = self.history.pool(pool.name, now)
        entry.unseen(now, held)
