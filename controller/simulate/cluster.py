"""The cluster and queues in virtual time: what every autoscaler acts on, alike.

- Tasks wait in their pool's queue (FIFO) and are served by ready pods, `concurrency` at once.
- A pod is created when a Deployment grows and is ready `cold_start_seconds` later. Pods beyond
  `cluster.max_pods` cannot be created (a ResourceQuota): the request waits, first come first
  served across pools, until a pod anywhere is gone. This binds the baselines too.
- Scale-down removes pods not ready yet first, then idle pods, then the least busy, newest
  first. A busy pod drains: it takes no new task, finishes the ones it has, then goes (its
  pod-seconds and its quota slot run until then). No task is ever lost or restarted.
- Tokens are charged when a task completes, per tenant per UTC day, as the workers' usage
  reports are in the live loop. With `gate_budgets` (agentdash), a worker of a hard-capped
  tenant starts a task only if today's tokens, plus those of tasks in flight, plus this one
  stay within the budget; otherwise the pool's queue waits (head first) until midnight. The
  baselines know no budgets and may overspend; the overspend is reported.

Autoscalers only call `scale`; the engine calls `arrive` and `handle` (the heap's events).
"""

from __future__ import annotations

from array import array
from collections import deque
from heapq import heapify, heappush

from controller.config import Config
from controller.simulate.trace import Trace
from controller.usage import DAY_S, SMOOTHING

REVERSAL_S = 300.0
"""A scale step against the pool's previous one within this long is a reversal (thrash)."""

# Heap entries are (time, kind, tiebreak, pod); at one instant the day rolls over first, then
# tasks finish, then pods turn ready, then a sample is taken. Arrivals and controller ticks at
# the same instant come after all of these (see controller.simulate.engine).
ROLL, DONE, READY, SAMPLE = 0, 1, 2, 3


class Tenant:
    __slots__ = ("blocked", "budget", "hard_cap", "name", "over", "pools", "reserved", "used")

    def __init__(self, name: str, budget: int | None, hard_cap: bool) -> None:
        self.name = name
        self.budget = budget
        self.hard_cap = hard_cap
        self.used = 0
        """Tokens of tasks completed today."""
        self.reserved = 0
        """Tokens of tasks in flight (counted only where budgets are gated)."""
        self.over = 0
        """Tokens spent beyond the budget, summed over the days."""
        self.pools: list[PoolState] = []
        self.blocked = 0
        """How many of `pools` the budget gate holds now (`PoolState.blocked`): counted up as
        each is blocked, back to 0 at midnight when all are released. With it a reader can
        tell "none blocked" or "all blocked" without scanning the pools."""


class Pod:
    __slots__ = ("born", "busy", "draining", "gone", "listed", "pool", "ready")

    def __init__(self, pool: PoolState, born: float) -> None:
        self.pool = pool
        self.born = born
        self.busy = 0
        self.ready = False
        self.draining = False
        self.gone = False
        self.listed = False
        """In the pool's `free` stack (which may also hold stale entries, skipped lazily)."""


class PoolState:
    __slots__ = (
        "arrived", "blocked", "cold_start", "concurrency", "creating", "free", "gate", "held",
        "index", "last_direction", "last_step_at", "mean_work", "name", "pods", "queue", "ready",
        "running", "spec", "tenant",
    )  # fmt: skip

    def __init__(self, index: int, name: str, tenant: Tenant, cold: float, conc: int) -> None:
        self.index = index
        self.name = name
        self.tenant = tenant
        self.gate: Tenant | None = None
        self.cold_start = cold
        self.concurrency = conc
        self.queue: deque[int] = deque()
        self.free: list[Pod] = []
        self.pods: list[Pod] = []
        """Live pods that count as replicas: starting or ready, not draining."""
        self.spec = 0
        """The Deployment's replicas: live pods plus creations waiting for quota."""
        self.creating = 0
        self.ready = 0
        self.running = 0
        self.arrived = 0
        self.blocked = False
        """The budget gate holds the queue's head (until midnight)."""
        self.held = False
        """The autoscaler holds the pool back for a budget or a pause (its own reasons)."""
        self.mean_work: float | None = None
        self.last_direction = 0
        self.last_step_at = 0.0


Event = tuple[float, int, int, Pod | None]


class Cluster:
    def __init__(
        self,
        config: Config,
        trace: Trace,
        *,
        initial: list[int],
        gate_budgets: bool,
        horizon: float,
        samples: int = 720,
    ) -> None:
        self.tenants = {
            name: Tenant(name, t.daily_token_budget, t.hard_cap)
            for name, t in config.tenants.items()
        }
        self.pools: list[PoolState] = []
        for index, (name, cfg) in enumerate(config.pools.items()):
            tenant = self.tenants[cfg.tenant]
            p = PoolState(index, name, tenant, cfg.cold_start_seconds, cfg.concurrency)
            if gate_budgets and tenant.budget is not None and tenant.hard_cap:
                p.gate = tenant
            tenant.pools.append(p)
            self.pools.append(p)
        self.arrival, self.task_pool = trace.t, trace.pool
        self.work, self.tokens = trace.work_s, trace.tokens
        gated = any(p.gate is not None for p in self.pools)
        self._most_tokens = max(self.tokens, default=0) if gated else 0
        """The most tokens any task of the trace costs (computed only if budgets are gated):
        while a gated tenant has this much left today, no task of its can be held back."""
        self.wait = array("d", [-1.0]) * len(trace)
        """Queue wait per task; -1 until it starts."""
        self.delayed = bytearray(len(trace))
        """1 for a task that waited while its pool was held back by the budget gate, or by the
        autoscaler for a budget or a pause (`hold`)."""
        self.horizon = horizon
        self.quota = config.cluster.max_pods
        self.heap: list[Event] = []
        self.creations: deque[PoolState] = deque()
        self.dirty: set[int] = set()
        """Pools where something an observation could see changed (queue, tasks running,
        replicas, ready pods, mean task time, the budget gate); the reader clears it."""
        self.completed = self.lag = self.lag_peak = 0
        self.alive = self.alive_peak = self.pod_peak = 0
        self.pod_seconds = self.t_alive = 0.0
        self.scale_events = self.reversals = 0
        self.steps: list[tuple[float, str, int, int]] = []
        """(time, pool, from, to) for every change of a Deployment's replicas."""
        self.series: list[tuple[float, int, int]] = []
        """(time, peak lag, peak pods) since the previous sample."""
        self._serial = 0
        for day in range(1, int(horizon // DAY_S) + 1):
            self.heap.append((day * DAY_S, ROLL, day, None))
        # Samples are pushed one at a time, each by the one before (see handle): a smaller heap
        # is a faster one, and the events come out in the same order.
        self._samples = samples
        self._sample_step = horizon / samples if horizon > 0 else 1.0
        self.heap.append((0.0, SAMPLE, 0, None))
        heapify(self.heap)
        for p, n in zip(self.pools, initial, strict=True):
            p.spec = n
            self._create(p, 0.0, n, ready=True)

    # --- what the engine feeds in ---------------------------------------------------------

    def arrive(self, task: int, now: float) -> PoolState:
        """Task `task` reaches its pool's queue at `now`; it starts at once if it can."""
        p = self.pools[self.task_pool[task]]
        p.arrived += 1
        self.dirty.add(p.index)
        self.lag += 1
        if self.lag > self.lag_peak:
            self.lag_peak = self.lag
        if p.blocked or p.held:
            self.delayed[task] = 1
        queue, free, gate = p.queue, p.free, p.gate
        if free and not queue and not p.blocked:
            # Fast path (most arrivals): nothing waits, so if the pod atop the free stack has a
            # slot and the budget (where gated) allows, the task starts there now, exactly as
            # _dispatch would start it.
            pod = free[-1]
            usable = not (pod.gone or pod.draining)
            if usable and (gate is None or not self._unaffordable(gate, task)):
                self._start(p, pod, task, now)
                return p
        queue.append(task)
        if len(queue) == 1 and not p.blocked:
            # Only a task arriving at an empty queue may start now. With tasks waiting, no pod
            # has a free slot: every event that frees one (a task done, a pod ready, midnight)
            # has already started the queue's head on it.
            self._dispatch(p, now)
        return p

    def handle(self, event: Event) -> None:
        now, kind, key, pod = event
        if kind == DONE:
            assert pod is not None
            self.complete(key, pod, now)
        elif kind == READY:
            assert pod is not None
            self._ready(pod, now)
        elif kind == ROLL:
            self._roll(now)
        else:
            self.series.append((now, self.lag_peak, self.alive_peak))
            self.lag_peak, self.alive_peak = self.lag, self.alive
            if key < self._samples:
                heappush(self.heap, ((key + 1) * self._sample_step, SAMPLE, key + 1, None))

    # --- what autoscalers do ----------------------------------------------------------------

    def scale(self, index: int, desired: int, now: float) -> None:
        p = self.pools[index]
        delta = desired - p.spec
        if delta == 0:
            return
        self._count_step(p, delta, now)
        self.steps.append((now, p.name, p.spec, desired))
        p.spec = desired
        self.dirty.add(index)
        if delta > 0:
            self._create(p, now, delta)
        else:
            self._shrink(p, -delta, now)

    def hold(self, index: int, held: bool) -> None:
        """The autoscaler says whether a budget or a pause holds this pool back now: tasks
        waiting meanwhile count as delayed by budget or pause."""
        p = self.pools[index]
        if held and not p.held:
            self._mark_delayed(p)
        p.held = held

    def finish(self) -> None:
        """Close the books at the horizon: pod-seconds, and today's overspend."""
        self._account(self.horizon)
        for tenant in self.tenants.values():
            self._settle(tenant)

    # --- tasks ------------------------------------------------------------------------------

    def _dispatch(self, p: PoolState, now: float) -> None:
        """Start the queue's tasks, head first, while a pod has a free slot and (where budgets
        are gated) the head fits in what is left of the tenant's budget today.

        The hot path of the simulation (about once per task): finding the free pod is
        written out here rather than called."""
        queue, free, gate = p.queue, p.free, p.gate
        while queue:
            task = queue[0]
            if gate is not None and self._unaffordable(gate, task):
                self._block(p)
                return
            # The pod on top of the free stack, dropping entries that went stale.
            while free:
                pod = free[-1]
                if not (pod.gone or pod.draining):
                    break
                free.pop()
                pod.listed = False
            else:
                return
            queue.popleft()
            self._start(p, pod, task, now)

    def _start(self, p: PoolState, pod: Pod, task: int, now: float) -> None:
        """Start `task` on `pod`, the top of `p`'s free stack. The pool is in `dirty` already:
        every caller put it there."""
        pod.busy += 1
        if pod.busy == p.concurrency:
            p.free.pop()  # `pod` is the top of the stack
            pod.listed = False
        self.wait[task] = now - self.arrival[task]
        p.running += 1
        heappush(self.heap, (now + self.work[task], DONE, task, pod))
        gate = p.gate
        if gate is not None:
            self._reserve(p, gate, task)

    def _reserve(self, p: PoolState, gate: Tenant, task: int) -> None:
        """Count the tokens of a task `p` started against its gated tenant's budget."""
        tokens = self.tokens[task]
        gate.reserved += tokens
        assert gate.budget is not None
        if gate.budget - gate.used - gate.reserved >= self._most_tokens:
            return  # any task at all still fits: no pool can be held back by this one
        # What is left today shrank for every pool of the tenant: hold back any whose next
        # task no longer fits, so its waiting tasks are counted as delayed.
        for other in gate.pools:
            waiting = other is not p and other.queue and not other.blocked
            if waiting and self._unaffordable(gate, other.queue[0]):
                self._block(other)

    def complete(self, task: int, pod: Pod, now: float) -> None:
        """A task finished (a DONE event): the engine calls this directly, not via `handle`."""
        p = pod.pool
        pod.busy -= 1
        p.running -= 1
        self.completed += 1
        self.lag -= 1
        self.dirty.add(p.index)
        tokens = self.tokens[task]
        p.tenant.used += tokens
        if p.gate is not None:
            p.gate.reserved -= tokens
        work, mean = self.work[task], p.mean_work
        p.mean_work = work if mean is None else mean + SMOOTHING * (work - mean)
        if pod.draining:
            if pod.busy == 0:
                self._remove(pod, now)
        elif not pod.listed:
            p.free.append(pod)
            pod.listed = True
        if p.queue and not p.blocked:
            self._dispatch(p, now)

    def _unaffordable(self, gate: Tenant, task: int) -> bool:
        assert gate.budget is not None
        return gate.used + gate.reserved + self.tokens[task] > gate.budget

    def _block(self, p: PoolState) -> None:
        # Today's tokens only grow until midnight, so a blocked pool stays blocked until then.
        if not p.blocked:
            p.tenant.blocked += 1
        p.blocked = True
        self.dirty.add(p.index)
        self._mark_delayed(p)

    def _mark_delayed(self, p: PoolState) -> None:
        delayed = self.delayed
        for task in p.queue:
            delayed[task] = 1

    def _roll(self, now: float) -> None:
        for tenant in self.tenants.values():
            self._settle(tenant)
            tenant.used = tenant.blocked = 0
        self.dirty.update(range(len(self.pools)))
        for p in self.pools:
            p.blocked = False
        for p in self.pools:
            if p.queue:
                self._dispatch(p, now)

    @staticmethod
    def _settle(tenant: Tenant) -> None:
        if tenant.budget is not None and tenant.used > tenant.budget:
            tenant.over += tenant.used - tenant.budget

    # --- pods -------------------------------------------------------------------------------

    def _create(self, p: PoolState, now: float, n: int = 1, *, ready: bool = False) -> None:
        """Create `n` pods for `p` at once; those beyond the quota wait for room (first come,
        first served: see _remove)."""
        room = max(0, self.quota - self.alive)
        if n > room:
            p.creating += n - room
            self.creations.extend([p] * (n - room))
            n = room
            if n == 0:
                return
        self._account(now)
        self.alive += n
        if self.alive > self.alive_peak:
            self.alive_peak = self.alive
            if self.alive > self.pod_peak:
                self.pod_peak = self.alive
        for _ in range(n):
            pod = Pod(p, now)
            p.pods.append(pod)
            if ready:
                self._ready(pod, now)
            else:
                self._serial += 1
                heappush(self.heap, (now + p.cold_start, READY, self._serial, pod))

    def _ready(self, pod: Pod, now: float) -> None:
        if pod.gone:
            return  # removed while starting
        pod.ready = True
        p = pod.pool
        p.ready += 1
        p.free.append(pod)
        pod.listed = True
        self.dirty.add(p.index)
        if p.queue and not p.blocked:
            self._dispatch(p, now)

    def _shrink(self, p: PoolState, n: int, now: float) -> None:
        cancel = min(n, p.creating)
        if cancel:
            p.creating -= cancel
            _drop_latest(self.creations, p, cancel)
            n -= cancel
        if n == 0:
            return
        ranked = sorted(p.pods, key=_removal_order)
        p.pods = ranked[n:]
        for pod in ranked[:n]:
            if pod.ready:
                p.ready -= 1
            if pod.busy:
                pod.draining = True
            else:
                self._remove(pod, now)

    def _remove(self, pod: Pod, now: float) -> None:
        pod.gone = True
        self._account(now)
        self.alive -= 1
        creations = self.creations
        while creations and self.alive < self.quota:
            p = creations.popleft()
            p.creating -= 1
            self._create(p, now)

    def _account(self, now: float) -> None:
        self.pod_seconds += self.alive * (now - self.t_alive)
        self.t_alive = now

    def _count_step(self, p: PoolState, delta: int, now: float) -> None:
        direction = 1 if delta > 0 else -1
        self.scale_events += 1
        if p.last_direction == -direction and now - p.last_step_at <= REVERSAL_S:
            self.reversals += 1
        p.last_direction, p.last_step_at = direction, now


def _removal_order(pod: Pod) -> tuple[bool, int, float]:
    return pod.ready, pod.busy, -pod.born


def _drop_latest(creations: deque[PoolState], p: PoolState, n: int) -> None:
    """Withdraw the pool's `n` most recent quota requests (a scale-down cancels them)."""
    kept: list[PoolState] = []
    while n and creations:
        entry = creations.pop()
        if entry is p:
            n -= 1
        else:
            kept.append(entry)
    creations.extend(reversed(kept))
