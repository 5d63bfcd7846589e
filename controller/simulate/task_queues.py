"""The simulated cluster's tasks: queued, started on free pods, completed, and redelivered when
their pod's grace period runs out; within the providers' rpm and, where budgets are gated, the
tenants' budgets (controller.simulate.cluster says what is modelled).

The second of the cluster's three layers (PodFleet, then TaskQueues, then Cluster), and the hot
path of the simulation: about one arrival, one start and one completion per task.
"""

from __future__ import annotations

from array import array
from heapq import heappop, heappush, heapreplace

from controller.core.accounting import task_time
from controller.simulate.cluster_parts import DONE, Provider, SimPod, SimPool, Tenant
from controller.simulate.pods import PodFleet
from controller.simulate.trace import Trace


class TaskQueues(PodFleet):
    """Each pool's queue served on its free pods, head first, as JetStream serves a pull
    consumer; a tenant's budget day and the tokens its tasks cost."""

    def __init__(
        self,
        tenants: dict[str, Tenant],
        pools: list[SimPool],
        trace: Trace,
        *,
        quota: int,
        marks_idle: bool,
    ) -> None:
        super().__init__(tenants, pools, quota=quota, marks_idle=marks_idle)
        self.order = list(tenants.values())
        """The tenants in config order (a reset's event names its tenant by its place here)."""
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
        self.completed = self.lag = self.lag_peak = 0
        self.redelivered = 0
        """Tasks sent back to their queue because their pod's grace period ran out."""

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
        p.price.add(tokens)
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
            p.price.new_day()
        for p in tenant.pools:
            if p.queue:
                self._dispatch(p, now)

    @staticmethod
    def _settle(tenant: Tenant) -> None:
        if tenant.budget is not None and tenant.used > tenant.budget:
            tenant.over += tenant.used - tenant.budget

    # --- pods turning ready or killed, as their tasks see it --------------------------------

    def _ready(self, pod: SimPod, now: float) -> None:
        """A READY event: the pod is free, and takes waiting tasks at once."""
        if pod.gone:
            return  # removed while starting
        self._turn_ready(pod, now)
        p = pod.pool
        if p.queue and not p.blocked:
            self._dispatch(p, now)

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
