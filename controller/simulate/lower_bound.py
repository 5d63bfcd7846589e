"""What a clairvoyant scaler would pay: a proven lower bound, and an achievable offline plan.

Lower bound (`lower_bound`): no scaler, however clairvoyant, can meet a p95 queue wait of W
over [0, H] with fewer pod-seconds. Proof sketch: with p95 <= W (nearest rank, as the report
computes it), at least ceil(0.95 n) tasks wait at most W; a task i that arrives at a_i and
waits at most W starts by a_i + W, so it runs at least min(work_i, H - a_i - W) seconds inside
the horizon (or none at all if a_i + W >= H: left unstarted, its censored wait H - a_i is
within W). A pod runs at most `concurrency` tasks at once, so it costs at least that run time
divided by `concurrency`. The scaler picks which n - ceil(0.95 n) tasks to let wait longer:
at best the ones with the largest terms, which we therefore leave out. The bound counts
no cold start and no idle pod: everything above it is overhead a scaler chooses or suffers
(reaction time, cold starts, idle pods, imperfect packing).

Achievable plan (`clairvoyant`): every task starts the moment it arrives (zero wait, so it
meets any p95), each pool runs ceil(busy slots / concurrency) pods, each pod created exactly
one cold start before it is needed, and a pod idle for less than a cold start is kept rather
than replaced. It ignores min_replicas (no pod is kept for a floor), max_replicas and the pod
quota. With no min_replicas floor, the best possible cost for the same p95 lies between the two
figures; a floor adds its pod-seconds to every policy's cost, not to the plan's.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from controller.core.config import Config
from controller.simulate.trace import Trace


def lower_bound(config: Config, trace: Trace, horizon: float, p95: float) -> float:
    """Pod-seconds below which no scaler meets a p95 wait of `p95` seconds over the horizon."""
    concurrency = [pool.concurrency for pool in config.pools.values()]
    terms = sorted(
        min(work, max(0.0, horizon - t - p95)) / concurrency[p]
        for t, p, work in zip(trace.t, trace.pool, trace.work_s, strict=True)
    )
    n = len(terms)
    exempt = n - math.ceil(0.95 * n)
    return math.fsum(terms[: n - exempt])


@dataclass(slots=True)
class _Plan:
    """One pool's zero-wait plan: its pods as levels 1..k, each switched on and off."""

    concurrency: int
    cold_start: float
    busy: int = 0
    pods: int = 0
    since: float = 0.0
    covered: float = 0.0
    """Pod-seconds of pods running (ready) tasks."""
    overhead: float = 0.0
    """Cold starts and idle gaps kept."""
    off_at: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)

    def start(self, t: float) -> None:
        self.busy += 1
        if -(-self.busy // self.concurrency) > self.pods:
            self._account(t)
            if self.pods < len(self.off_at):  # this pod existed: keep it idle or recreate it
                self.overhead += min(t - self.off_at[self.pods], self.cold_start)
            else:  # its first start: created a cold start ahead (or present from time 0)
                self.off_at.append(t)
                self.overhead += min(self.cold_start, t)
            self.pods += 1

    def finish(self, t: float) -> None:
        self.busy -= 1
        if -(-self.busy // self.concurrency) < self.pods:
            self._account(t)
            self.pods -= 1
            self.off_at[self.pods] = t

    def _account(self, t: float) -> None:
        self.covered += self.pods * (t - self.since)
        self.since = t


def clairvoyant(config: Config, trace: Trace, horizon: float) -> float:
    """Pod-seconds of the zero-wait offline plan described above."""
    plans = [_Plan(p.concurrency, p.cold_start_seconds) for p in config.pools.values()]
    for t, p, work in zip(trace.t, trace.pool, trace.work_s, strict=True):
        plan = plans[p]
        ends = plan.ends
        while ends and ends[0] <= t:  # a slot freed at this instant serves this task
            plan.finish(heapq.heappop(ends))
        plan.start(t)
        heapq.heappush(ends, min(t + work, horizon))
    for plan in plans:
        while plan.ends:
            plan.finish(heapq.heappop(plan.ends))
    return math.fsum(p.covered + p.overhead for p in plans)
