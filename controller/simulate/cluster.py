"""The cluster and queues in virtual time: what every autoscaler acts on, alike.

Every policy (agentdash, KEDA, the HPA) runs on this very cluster, under the same limits:

- Tasks wait in their pool's queue (FIFO) and are served by ready pods, `concurrency` at once.
  The next task goes to the pod that has been free the longest, as a JetStream pull consumer
  serves the oldest waiting pull request first.
- A pod is created when a Deployment grows and is ready `cold_start_seconds` later. Two
  ResourceQuotas bind creations: `cluster.max_pods` over every pool and a tenant's `max_pods`
  over its pools (its namespace). A creation beyond either waits, first come first served,
  until a pod that makes room is gone; while the cluster has room, one tenant's waiting
  creations hold back no other tenant's.
- Providers' rpm: a running task makes rpm_per_replica / concurrency requests a minute to its
  pool's provider. A task starts only while the provider's rpm in use (its running tasks')
  plus its own stays within the provider's rpm; otherwise it waits in its queue (it is still
  lag, and its idle pod is still paid) until a task of that provider ends, and then the
  provider's waiting pools are served oldest head task first. A task alone may start whatever
  it makes, so no pool is shut out for good. Pools without a provider (or rpm_per_replica 0),
  and those of a provider that every pod the quotas allow could not bring to its rpm, pay
  nothing for this.
- Scale-down is the ReplicaSet controller's, which cannot see which pod is busy: pods not
  ready yet go first (the newest first), then ready ones, the most recently ready first, then
  the newest. With `marks_idle` (agentdash, whose workers report which pods are busy), the
  idle pods it marks with a low `controller.kubernetes.io/pod-deletion-cost` go before the
  ready ones that are busy, as the ReplicaSet ranks a lower cost first. An idle victim goes at
  once. A busy one is terminating: it takes no new task
  and has `termination_grace_seconds` to finish; a task still running then goes back to the
  head of its pool's queue (as JetStream redelivers a nak'ed message) and starts again from
  zero, its queue wait counting on. A terminating pod's pod-seconds and quota slots run until
  it is gone. No task is ever lost; redeliveries are counted.
- Tokens are charged when a task completes, per tenant per budget day (from its
  `budget_reset` in its `time_zone`), as the workers' usage reports are in the live loop. With
  `gate_budgets` (a worker that knew each task's tokens before running it: no policy assumes
  one now), a worker of a hard-capped tenant starts a task only if today's tokens, plus those
  of tasks in flight, plus this one stay within the budget; otherwise the pool's queue waits
  (head first) until the budget resets. The baselines know
  no budgets and may overspend; the overspend is reported.

Not modelled, for any policy: nodes and scheduling (a pod's cold start is all its start-up),
pod failures and restarts, the ReplicaSet's logarithmic bucketing of ready
times (exact times are compared), per-request rate limiting (no 429s or retries: the rpm
admits whole tasks, and a started task runs at full speed), and the tokens of an attempt cut
short by a redelivery (tokens are charged once, when the task completes).

Autoscalers only call `scale` (and `hold`); the clock (controller.simulate.clock.run) calls
`arrive`, `complete` and `handle` (the heap's events).
"""

from __future__ import annotations

from array import array
from collections import deque
from heapq import heapify, heappop, heappush, heapreplace

from controller.core.accounting import task_time
from controller.core.config import Config
from controller.simulate.trace import Trace

REVERSAL_S = 300.0
"""A scale step against the pool's previous one within this long is a reversal (thrash)."""

# Heap entries are (time, kind, tiebreak, pod); at one instant a budget day rolls over first, then
# tasks finish, then terminating pods' grace periods end, then pods turn ready, then a sample
# is taken. Arrivals and controller ticks at the same instant come after all of these (see
# controller.simulate.clock).
ROLL, DONE, KILL, READY, SAMPLE = 0, 1, 2, 3, 4

MICRO = 1_000_000
"""Requests a minute are counted in millionths, as integers: sums over millions of task
starts and ends stay exact."""
NO_LIMIT = 1 << 40
"""A tenant without `max_pods`."""


class Tenant:
    __slots__ = (
        "alive",
        "blocked",
        "budget",
        "creations",
        "done",
        "hard_cap",
        "max_pods",
        "name",
        "over",
        "pools",
        "reserved",
        "used",
    )

    def __init__(
        self, name: str, budget: int | None, hard_cap: bool, max_pods: int | None = None
    ) -> None:
        self.name = name
        self.budget = budget
        self.hard_cap = hard_cap
        self.used = 0
        """Tokens of tasks completed today."""
        self.done = 0
        """Tasks completed today (the workers' usage reports count them too)."""
        self.reserved = 0
        """Tokens of tasks in flight (counted only where budgets are gated)."""
        self.over = 0
        """Tokens spent beyond the budget, summed over the days."""
        self.pools: list[SimPool] = []
        self.blocked = 0
        """How many of `pools` the budget gate holds now (`SimPool.blocked`): counted up as
        each is blocked, back to 0 at the reset when all are released. With it a reader can
        tell "none blocked" or "all blocked" without scanning the pools."""
        self.max_pods = NO_LIMIT if max_pods is None else max_pods
        self.alive = 0
        """Pods of the tenant's pools that exist (terminating ones too): its quota's usage."""
        self.creations: deque[tuple[int, SimPool]] = deque()
        """Creations waiting for quota, oldest first, with the order they were asked in."""


class Provider:
    __slots__ = ("name", "rpm", "used", "waiting")

    def __init__(self, name: str, rpm: int) -> None:
        self.name = name
        self.rpm = rpm * MICRO
        self.used = 0
        """Requests a minute its running tasks make, in millionths."""
        self.waiting: list[tuple[int, int]] = []
        """A heap of (head task, pool index), oldest head first: pools whose head task waits
        for this provider's rpm. An entry goes stale when its pool's head moves or it has no
        free pod any more; `_admit` drops such entries as they come up."""


class SimPod:
    __slots__ = ("born", "busy", "gone", "listed", "pool", "ready", "ready_at", "terminating")

    def __init__(self, pool: SimPool, born: float) -> None:
        self.pool = pool
        self.born = born
        self.busy = 0
        self.ready = False
        self.ready_at = 0.0
        self.terminating = False
        """Chosen by a scale-down while busy: takes no new task, gone when done or killed."""
        self.gone = False
        self.listed = False
        """In the pool's `free` queue (which may also hold stale entries, skipped lazily)."""


class SimPool:
    __slots__ = (
        "arrived",
        "blocked",
        "cold_start",
        "concurrency",
        "creating",
        "demand",
        "free",
        "gate",
        "grace",
        "held",
        "index",
        "last_direction",
        "last_step_at",
        "mean_work",
        "name",
        "pods",
        "provider",
        "queue",
        "ready",
        "running",
        "spec",
        "tenant",
        "throttled",
    )

    def __init__(self, index: int, name: str, tenant: Tenant, cold: float, conc: int) -> None:
        self.index = index
        self.name = name
        self.tenant = tenant
        self.gate: Tenant | None = None
        self.provider: Provider | None = None
        """The provider whose rpm binds the pool's tasks (None: nothing binds them)."""
        self.demand = 0
        """Requests a minute one running task makes to `provider`, in millionths."""
        self.throttled = False
        """In `provider.waiting` (with an entry for the current head of its queue)."""
        self.cold_start = cold
        self.concurrency = conc
        self.grace = 30.0
        """termination_grace_seconds."""
        self.queue: deque[int] = deque()
        self.free: deque[SimPod] = deque()
        self.pods: list[SimPod] = []
        """Live pods that count as replicas: starting or ready, not terminating."""
        self.spec = 0
        """The Deployment's replicas: live pods plus creations waiting for quota."""
        self.creating = 0
        self.ready = 0
        self.running = 0
        self.arrived = 0
        self.blocked = False
        """The budget gate holds the queue's head (until the budget resets)."""
        self.held = False
        """The autoscaler holds the pool back for a budget or a pause (its own reasons)."""
        self.mean_work: float | None = None
        self.last_direction = 0
        self.last_step_at = 0.0


Event = tuple[float, int, int, SimPod | None]


class Cluster:
    def __init__(
        self,
        config: Config,
        trace: Trace,
        *,
        initial: list[int],
        gate_budgets: bool,
        marks_idle: bool = False,
        horizon: float,
        samples: int = 720,
    ) -> None:
        self.marks_idle = marks_idle
        self.tenants = {
            name: Tenant(name, t.daily_token_budget, t.hard_cap, t.max_pods)
            for name, t in config.tenants.items()
        }
        self.order = list(self.tenants.values())
        """The tenants in config order (a reset's event names its tenant by its place here)."""
        self.providers = {name: Provider(name, pr.rpm) for name, pr in config.providers.items()}
        self.pools: list[SimPool] = []
        for index, (name, cfg) in enumerate(config.pools.items()):
            tenant = self.tenants[cfg.tenant]
            p = SimPool(index, name, tenant, cfg.cold_start_seconds, cfg.concurrency)
            if gate_budgets and tenant.budget is not None and tenant.hard_cap:
                p.gate = tenant
            if cfg.provider is not None and cfg.rpm_per_replica > 0:
                p.provider = self.providers[cfg.provider]
                p.demand = max(1, round(cfg.rpm_per_replica * MICRO / cfg.concurrency))
            p.grace = cfg.termination_grace_seconds
            tenant.pools.append(p)
            self.pools.append(p)
        self.arrival, self.task_pool = trace.t, trace.pool
        self.work, self.tokens = trace.work_s, trace.tokens
        gated = any(p.gate is not None for p in self.pools)
        self._most_tokens = max(self.tokens, default=0) if gated else 0
        """The most tokens any task of the trace costs (computed only if budgets are gated):
        while a gated tenant has this much left today, no task of its can be held back."""
        self.wait = array("d", [-1.0]) * len(trace)
        """Queue wait per task; -1 until it starts (again, after a redelivery)."""
        self.since = self.arrival
        """Per task, when its queue wait began, as if it had waited without a break: its
        arrival, or for a redelivered task the time it went back less the wait it had had.
        `arrival` itself until the first redelivery, which makes this a copy."""
        self.delayed = bytearray(len(trace))
        """1 for a task that waited while its pool was held back by the budget gate, or by the
        autoscaler for a budget or a pause (`hold`)."""
        self.horizon = horizon
        self.quota = config.cluster.max_pods
        for provider in self.providers.values():
            if self._most_rpm(provider) <= provider.rpm:
                for p in self.pools:  # it never binds: its pools need not count their requests
                    if p.provider is provider:
                        p.provider = None
        self.heap: list[Event] = []
        self.waiting_creations = 0
        """Pod creations waiting for quota, over every tenant (`Tenant.creations`)."""
        self.dirty: set[int] = set()
        """Pools where something an observation could see changed (queue, tasks running,
        replicas, ready pods, mean task time, the budget gate); the reader clears it."""
        self.completed = self.lag = self.lag_peak = 0
        self.redelivered = 0
        """Tasks sent back to their queue because their pod's grace period ran out."""
        self.alive = self.alive_peak = self.pod_peak = 0
        self.pod_seconds = self.t_alive = 0.0
        self.scale_events = self.reversals = 0
        self.steps: list[tuple[float, str, int, int]] = []
        """(time, pool, from, to) for every change of a Deployment's replicas."""
        self.series: list[tuple[float, int, int]] = []
        """(time, peak lag, peak pods) since the previous sample."""
        self._serial = 0
        for k, spec in enumerate(config.tenants.values()):
            clock = spec.clock
            reset = clock.day(0.0).end
            while reset <= horizon:
                self.heap.append((reset, ROLL, k, None))
                reset = clock.day(reset).end
        # Samples are pushed one at a time, each by the one before (see handle): a smaller heap
        # is a faster one, and the events come out in the same order.
        self._samples = samples
        self._sample_step = horizon / samples if horizon > 0 else 1.0
        self.heap.append((0.0, SAMPLE, 0, None))
        heapify(self.heap)
        for p, n in zip(self.pools, initial, strict=True):
            p.spec = n
            self._create(p, 0.0, n, ready=True)

    def _most_rpm(self, provider: Provider) -> int:
        """The most requests a minute the provider's pools could make at once: every pod the
        quotas allow (terminating ones too) busy, on the pools that make the most."""
        by_tenant: dict[Tenant, int] = {}
        for p in self.pools:
            if p.provider is provider:
                each = p.demand * p.concurrency  # one busy pod
                by_tenant[p.tenant] = max(by_tenant.get(p.tenant, 0), each)
        if not by_tenant:
            return 0
        quota = self.quota
        tenants = sum(min(t.max_pods, quota) * each for t, each in by_tenant.items())
        return min(tenants, quota * max(by_tenant.values()))

    # --- what the clock feeds in ----------------------------------------------------------

    def arrive(self, task: int, now: float) -> SimPool:
        """Task `task` reaches its pool's queue at `now`; it starts at once if it can."""
        p = self.pools[self.task_pool[task]]
        p.arrived += 1
        self.dirty.add(p.index)
        self.lag += 1
        if self.lag > self.lag_peak:
            self.lag_peak = self.lag
        if p.blocked or p.held:
            self.delayed[task] = 1
        queue, free = p.queue, p.free
        if free and not queue and not p.blocked:
            # Fast path (most arrivals): nothing waits, so if the pod at the head of the free
            # queue has a slot and the budget and the provider's rpm (where they bind) allow,
            # the task starts there now, exactly as _dispatch would start it.
            pod = free[0]
            gate, provider = p.gate, p.provider
            if (
                not (pod.gone or pod.terminating)
                and (gate is None or not self._unaffordable(gate, task))
                and (
                    provider is None
                    or (not provider.waiting and provider.used + p.demand <= provider.rpm)
                )  # (else _dispatch decides, as _admits)
            ):
                self._start(p, pod, task, now)
                return p
        queue.append(task)
        if len(queue) == 1 and not p.blocked:
            # Only a task arriving at an empty queue may start now. With tasks waiting, no pod
            # has a free slot, or the queue waits for its provider's rpm: every event that
            # frees a slot or rpm (a task done, a pod ready, a reset) has already started the
            # queue's head if it could.
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
        elif kind == KILL:
            assert pod is not None
            self._kill(pod, now)
        elif kind == ROLL:
            self._roll(now, key)
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

    def _dispatch(self, p: SimPool, now: float) -> None:
        """Start the queue's tasks, head first, while a pod has a free slot, (where budgets
        are gated) the head fits in what is left of the tenant's budget today, and (where a
        provider binds) its rpm has room.

        The hot path of the simulation (about once per task): finding the free pod is
        written out here rather than called."""
        queue, free, gate, provider = p.queue, p.free, p.gate, p.provider
        while queue:
            task = queue[0]
            if gate is not None and self._unaffordable(gate, task):
                self._block(p)
                return
            # The pod at the head of the free queue, dropping entries that went stale.
            while free:
                pod = free[0]
                if not (pod.gone or pod.terminating):
                    break
                free.popleft()
                pod.listed = False
            else:
                return
            if provider is not None and not self._admits(provider, p):
                # Wait for the rpm, in turn with the provider's other waiting pools.
                if not p.throttled:
                    p.throttled = True
                    heappush(provider.waiting, (task, p.index))
                self._admit(provider, now)
                return
            queue.popleft()
            self._start(p, pod, task, now)

    def _start(self, p: SimPool, pod: SimPod, task: int, now: float) -> None:
        """Start `task` on `pod`, the head of `p`'s free queue. The pool is in `dirty` already:
        every caller put it there."""
        pod.busy += 1
        if pod.busy == p.concurrency:
            p.free.popleft()  # `pod` is the head of the queue
            pod.listed = False
        self.wait[task] = now - self.since[task]
        p.running += 1
        heappush(self.heap, (now + self.work[task], DONE, task, pod))
        provider = p.provider
        if provider is not None:
            provider.used += p.demand
        gate = p.gate
        if gate is not None:
            self._reserve(p, gate, task)

    def _reserve(self, p: SimPool, gate: Tenant, task: int) -> None:
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

    def complete(self, task: int, pod: SimPod, now: float) -> None:
        """A task finished (a DONE event): the clock calls this directly, not via `handle`."""
        if pod.gone:
            return  # its pod was killed and the task redelivered: this run never ends
        p = pod.pool
        pod.busy -= 1
        p.running -= 1
        self.completed += 1
        self.lag -= 1
        self.dirty.add(p.index)
        tokens = self.tokens[task]
        tenant = p.tenant
        tenant.used += tokens
        tenant.done += 1
        if p.gate is not None:
            p.gate.reserved -= tokens
        work, mean = self.work[task], p.mean_work
        p.mean_work = task_time(mean, work)  # the live ledger's rule: one outlier cannot swing it
        provider = p.provider
        if provider is not None:
            provider.used -= p.demand
        if pod.terminating:
            if pod.busy == 0:
                self._remove(pod, now)
        elif not pod.listed:
            p.free.append(pod)
            pod.listed = True
        if p.queue and not p.blocked:
            self._dispatch(p, now)
        if provider is not None and provider.waiting:
            self._admit(provider, now)

    def _admits(self, provider: Provider, p: SimPool) -> bool:
        """Whether a task of `p` may start now: no older task waits for the provider, and its
        rpm has room (or nothing of it runs: a task alone always may)."""
        used = provider.used
        return not provider.waiting and (used == 0 or used + p.demand <= provider.rpm)

    def _admit(self, provider: Provider, now: float) -> None:
        """Start tasks waiting for the provider's rpm, the oldest head task first, while its
        rpm has room. Runs only where a provider binds; O(log pools) a task."""
        waiting, pools = provider.waiting, self.pools
        while waiting:
            head, i = waiting[0]
            q = pools[i]
            queue = q.queue
            if queue and queue[0] != head:
                heappop(waiting)  # stale: the head moved, and an entry for the new one exists
                continue
            pod = self._free_pod(q) if queue and not q.blocked else None
            if pod is None:
                heappop(waiting)  # nothing to start there: it waits for a pod, not the rpm
                q.throttled = False
                continue
            used = provider.used
            if used != 0 and used + q.demand > provider.rpm:
                return
            gate = q.gate
            if gate is not None and self._unaffordable(gate, head):
                self._block(q)
                continue
            queue.popleft()
            self.dirty.add(i)
            self._start(q, pod, head, now)
            if queue:
                heapreplace(waiting, (queue[0], i))
            else:
                heappop(waiting)
                q.throttled = False

    @staticmethod
    def _free_pod(p: SimPool) -> SimPod | None:
        """The pod at the head of `p`'s free queue, dropping entries that went stale."""
        free = p.free
        while free:
            pod = free[0]
            if not (pod.gone or pod.terminating):
                return pod
            free.popleft()
            pod.listed = False
        return None

    def _unaffordable(self, gate: Tenant, task: int) -> bool:
        assert gate.budget is not None
        return gate.used + gate.reserved + self.tokens[task] > gate.budget

    def _block(self, p: SimPool) -> None:
        # Today's tokens only grow until the reset, so a blocked pool stays blocked until then.
        if not p.blocked:
            p.tenant.blocked += 1
        p.blocked = True
        self.dirty.add(p.index)
        self._mark_delayed(p)

    def _mark_delayed(self, p: SimPool) -> None:
        delayed = self.delayed
        for task in p.queue:
            delayed[task] = 1

    def _roll(self, now: float, k: int) -> None:
        """Tenant k's budget day starts over."""
        tenant = self.order[k]
        self._settle(tenant)
        tenant.used = tenant.blocked = tenant.done = 0
        self.dirty.update(p.index for p in tenant.pools)
        for p in tenant.pools:
            p.blocked = False
        for p in tenant.pools:
            if p.queue:
                self._dispatch(p, now)

    @staticmethod
    def _settle(tenant: Tenant) -> None:
        if tenant.budget is not None and tenant.used > tenant.budget:
            tenant.over += tenant.used - tenant.budget

    # --- pods -------------------------------------------------------------------------------

    def _create(self, p: SimPool, now: float, n: int = 1, *, ready: bool = False) -> None:
        """Create `n` pods for `p` at once; those beyond the cluster's or the tenant's quota
        wait for room (first come, first served: see _grant)."""
        tenant = p.tenant
        room = min(self.quota - self.alive, tenant.max_pods - tenant.alive)
        if n > room:
            room = max(0, room)
            for _ in range(n - room):
                self._serial += 1
                tenant.creations.append((self._serial, p))
            p.creating += n - room
            self.waiting_creations += n - room
            n = room
            if n == 0:
                return
        self._account(now)
        self.alive += n
        tenant.alive += n
        if self.alive > self.alive_peak:
            self.alive_peak = self.alive
            if self.alive > self.pod_peak:
                self.pod_peak = self.alive
        for _ in range(n):
            pod = SimPod(p, now)
            p.pods.append(pod)
            if ready:
                self._ready(pod, now)
            else:
                self._serial += 1
                heappush(self.heap, (now + p.cold_start, READY, self._serial, pod))

    def _ready(self, pod: SimPod, now: float) -> None:
        if pod.gone:
            return  # removed while starting
        pod.ready = True
        pod.ready_at = now
        p = pod.pool
        p.ready += 1
        p.free.append(pod)
        pod.listed = True
        self.dirty.add(p.index)
        if p.queue and not p.blocked:
            self._dispatch(p, now)

    def _shrink(self, p: SimPool, n: int, now: float) -> None:
        cancel = min(n, p.creating)
        if cancel:
            p.creating -= cancel
            self.waiting_creations -= cancel
            _drop_latest(p.tenant.creations, p, cancel)
            n -= cancel
        if n == 0:
            return
        # The ReplicaSet controller's choice: it sees readiness and times, not busy slots,
        # unless the autoscaler marked the idle ones with a lower pod-deletion-cost.
        ranked = sorted(p.pods, key=_marked_order if self.marks_idle else _removal_order)
        p.pods = ranked[n:]
        for pod in ranked[:n]:
            if pod.ready:
                p.ready -= 1
            if pod.busy:
                pod.terminating = True
                self._serial += 1
                heappush(self.heap, (now + p.grace, KILL, self._serial, pod))
            else:
                self._remove(pod, now)

    def _kill(self, pod: SimPod, now: float) -> None:
        """A terminating pod's grace period is over: the tasks it still runs go back to the
        head of their queue (oldest first), to start again from zero; the pod is gone."""
        if pod.gone:
            return  # it finished its tasks in time
        p = pod.pool
        # Its tasks are those whose completion is still due. Found in the heap (a few hundred
        # events) rather than kept per pod: kills are rare, task starts are not.
        tasks: list[int] = []
        left = pod.busy
        for event in self.heap:
            if event[3] is pod and event[1] == DONE:
                tasks.append(event[2])
                left -= 1
                if left == 0:
                    break
        tasks.sort()
        if self.since is self.arrival:
            self.since = list(self.arrival)
        since, wait, gate = self.since, self.wait, p.gate
        held = p.held or p.blocked
        for task in tasks:
            since[task] = now - wait[task]  # so its next wait adds to the one it had
            wait[task] = -1.0
            if gate is not None:
                gate.reserved -= self.tokens[task]
            if held:
                self.delayed[task] = 1
        n = len(tasks)
        pod.busy = 0
        p.running -= n
        self.redelivered += n
        p.queue.extendleft(reversed(tasks))
        self.dirty.add(p.index)
        provider = p.provider
        if provider is not None:
            provider.used -= n * p.demand
            if p.throttled:  # its head moved: its place in line is that of the new head
                heappush(provider.waiting, (p.queue[0], p.index))
        self._remove(pod, now)
        if not p.blocked:
            self._dispatch(p, now)
        if provider is not None and provider.waiting:
            self._admit(provider, now)

    def _remove(self, pod: SimPod, now: float) -> None:
        pod.gone = True
        self._account(now)
        self.alive -= 1
        pod.pool.tenant.alive -= 1
        if self.waiting_creations:
            self._grant(now)

    def _grant(self, now: float) -> None:
        """Create waiting pods while there is room: the oldest request first among tenants
        whose own quota has room (a tenant at its quota holds back only its own)."""
        tenants = self.tenants.values()
        while self.alive < self.quota:
            best: Tenant | None = None
            for tenant in tenants:
                asked = tenant.creations
                if not asked or tenant.alive >= tenant.max_pods:
                    continue
                if best is None or asked[0][0] < best.creations[0][0]:
                    best = tenant
            if best is None:
                return
            p = best.creations.popleft()[1]
            p.creating -= 1
            self.waiting_creations -= 1
            self._create(p, now)

    def _account(self, now: float) -> None:
        self.pod_seconds += self.alive * (now - self.t_alive)
        self.t_alive = now

    def _count_step(self, p: SimPool, delta: int, now: float) -> None:
        direction = 1 if delta > 0 else -1
        self.scale_events += 1
        if p.last_direction == -direction and now - p.last_step_at <= REVERSAL_S:
            self.reversals += 1
        p.last_direction, p.last_step_at = direction, now


def _removal_order(pod: SimPod) -> tuple[bool, float, float]:
    """The ReplicaSet's ranking of pods to delete (controller.ActivePodsWithRanks), as far as
    the simulation tells pods apart: not ready before ready, then the most recently ready
    first, then the newest first."""
    return pod.ready, -pod.ready_at, -pod.born


def _marked_order(pod: SimPod) -> tuple[bool, bool, float, float]:
    """The same ranking when the idle pods carry a lower pod-deletion-cost, which the
    ReplicaSet weighs right after readiness."""
    return pod.ready, pod.busy > 0, -pod.ready_at, -pod.born


def _drop_latest(creations: deque[tuple[int, SimPool]], p: SimPool, n: int) -> None:
    """Withdraw the pool's `n` most recent quota requests (a scale-down cancels them)."""
    kept: list[tuple[int, SimPool]] = []
    while n and creations:
        entry = creations.pop()
        if entry[1] is p:
            n -= 1
        else:
            kept.append(entry)
    creations.extend(reversed(kept))
