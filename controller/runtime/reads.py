"""The loop's reads of the cluster (the actuator) and the queues (the lag source): each within
the deadline, a failure or a silence told to SourceHealth, and the last answer standing for a
source that fails (the policy then holds the pools whose data is stale, never scales them down).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping

from controller.actuators.base import Actuator
from controller.core.model import PoolState, QueueStats, SourceError
from controller.runtime.health import TASKS, SourceHealth
from controller.sources.base import LagSource, RefusalsSource


class SourceReads:
    """The last answers of the cluster and the queues, read again at each tick."""

    def __init__(
        self,
        actuator: Actuator,
        lag: LagSource,
        health: SourceHealth,
        *,
        clock: Callable[[], float],
        deadline: float,
        shown: Callable[[Mapping[str, PoolState]], Mapping[str, PoolState]] = dict,
    ) -> None:
        self.actuator = actuator
        self.lag = lag
        self.health = health
        self.clock = clock
        self.deadline = deadline
        """The most a read may take (the loop's call_deadline)."""
        self.shown = shown
        """What is shown of the cluster as read: on a follower, the leader's view of it
        (Reconciler._shown)."""
        self.state: Mapping[str, PoolState] = {}
        """Each pool's replicas, ready and pods as last read, as `shown` shows them: put in
        place as read, the follower's own cluster would stand here while the queues' read
        waits (its deadline, with NATS stalled): a follower of a simulated cluster would show
        its own, empty, for that long (`pods 0/24`)."""
        self.stats: Mapping[str, QueueStats] = {}
        """Each pool's queue as last read."""

    async def refresh(self, only: Collection[str] | None) -> None:
        """Read the cluster and the queues (`only`: just these pools'), each within the
        deadline; the last answer stands for a source that fails."""
        deadline = self.deadline  # a source that does not answer in time is failing
        health, clock = self.health, self.clock  # told as of the answer (or the silence)
        try:
            self.state = self.shown(await asyncio.wait_for(self.actuator.observe(), deadline))
            health.healthy("cluster", clock())
        except SourceError as exc:
            health.unhealthy("cluster", str(exc), clock())
        except TimeoutError:
            health.unhealthy("cluster", f"no answer within {deadline:.1f} s", clock())
        try:
            read = self.lag.read() if only is None else self._read_some(only)
            self.stats = await asyncio.wait_for(read, deadline)
            health.healthy("queue", clock())
            self._tell_refused()
        except SourceError as exc:
            health.unhealthy("queue", str(exc), clock())
        except TimeoutError:
            health.unhealthy("queue", f"no answer within {deadline:.1f} s", clock())

    def _tell_refused(self) -> None:
        """Tasks the queue refuses to store are a problem of their own (TASKS): the pools
        read idle and are not stale, while every producer's publish fails."""
        if not isinstance(self.lag, RefusalsSource):
            return
        refused = self.lag.refused_tasks()
        if refused is None:
            self.health.healthy(TASKS, self.clock())
        else:
            self.health.unhealthy(TASKS, refused, self.clock())

    async def _read_some(self, pools: Collection[str]) -> Mapping[str, QueueStats]:
        fresh = await self.lag.read(pools)
        return {**self.stats, **fresh}
