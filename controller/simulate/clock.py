"""The discrete-event loop: arrivals from the trace, the cluster's events from a heap, and the
autoscaler's ticks, all in virtual time (no sleeps, no clock).

At one instant the cluster's events come first (day roll, finished tasks, grace periods
running out, pods turning ready), then arrivals (in trace order), then the autoscaler's tick:
a tick sees everything that happened at its own instant. Arrivals are read from the sorted
trace with an index rather than pushed on the heap, so a task costs one heap push and one pop
(its completion).
"""

from __future__ import annotations

import heapq
import math
from typing import Protocol

from controller.core.config import Config
from controller.simulate.cluster import Cluster
from controller.simulate.cluster_parts import DONE
from controller.simulate.trace import Trace


class Autoscaler(Protocol):
    name: str
    gate_budgets: bool
    """Whether workers hold back tasks a hard-capped tenant's budget cannot cover."""
    marks_idle: bool
    """Whether it marks idle pods with a low pod-deletion-cost before a scale-down."""
    wakes: bytearray
    """Per pool: 1 when an arrival there wakes the autoscaler at once (not at its next tick)."""

    def initial(self) -> list[int]:
        """Replicas per pool at time 0 (ready: the fleet starts in its idle steady state)."""
        ...

    def tick(self, now: float, cluster: Cluster) -> float:
        """Observe and act; return the time of the next tick."""
        ...

    def wake(self, now: float, pool: int) -> float:
        """A task reached a pool flagged in `wakes`: return the time of the next tick."""
        ...


def run(
    config: Config, trace: Trace, scaler: Autoscaler, horizon: float, samples: int = 720
) -> Cluster:
    """Replay `trace` until `horizon` under `scaler`; the cluster holds the outcome."""
    cluster = Cluster(
        config,
        trace,
        initial=scaler.initial(),
        gate_budgets=scaler.gate_budgets,
        marks_idle=scaler.marks_idle,
        horizon=horizon,
        samples=samples,
    )
    heap, times, wakes = cluster.heap, trace.t, scaler.wakes
    handle, complete, arrive, pop = cluster.handle, cluster.complete, cluster.arrive, heapq.heappop
    n, i, inf = len(times), 0, math.inf
    ta = times[0] if n else inf  # the next arrival
    next_tick = 0.0
    while True:
        # First the cluster's events due by the next arrival or tick (and by the horizon).
        due = ta if ta < next_tick else next_tick
        if due > horizon:
            due = horizon
        while heap and heap[0][0] <= due:
            now, kind, key, pod = event = pop(heap)
            if kind == DONE and pod is not None:  # most events: straight to the cluster
                complete(key, pod, now)
            else:
                handle(event)
        # Then whichever comes first of the next arrival and the next tick; the arrival at a tie.
        if ta <= next_tick:
            if ta > horizon:
                break
            now = ta
            index = arrive(i, now).index
            i += 1
            ta = times[i] if i < n else inf
            if wakes[index]:
                next_tick = min(next_tick, scaler.wake(now, index))
        else:
            if next_tick > horizon:
                break
            next_tick = scaler.tick(next_tick, cluster)
    cluster.finish()
    return cluster
