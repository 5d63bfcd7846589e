"""The simulated cluster's pods, made and deleted as the ReplicaSet controller and the
ResourceQuotas make and delete them (controller.simulate.cluster says what is modelled).

The first of the cluster's three layers (PodFleet, then TaskQueues, then Cluster): one object,
so that the compiled hot path reaches every field as a native attribute, each layer with one
job. This one also holds what the layers above write to as well: the event heap and the pools
an observation must read again (`dirty`).
"""

from __future__ import annotations

from collections import deque
from heapq import heappush

from controller.simulate.cluster_parts import KILL, READY, Event, SimPod, SimPool, Tenant


class PodFleet:
    """The pods of every pool: created within the cluster's and their tenant's quotas (or
    waiting for room), ready a cold start later, deleted in the ReplicaSet's order, and the
    pod-seconds they cost."""

    def __init__(
        self, tenants: dict[str, Tenant], pools: list[SimPool], *, quota: int, marks_idle: bool
    ) -> None:
        self.marks_idle = marks_idle
        self.tenants = tenants
        self.pools = pools
        self.quota = quota
        """The cluster's ResourceQuota: `cluster.max_pods`."""
        self.heap: list[Event] = []
        self.waiting_creations = 0
        """Pod creations waiting for quota, over every tenant (`Tenant.creations`)."""
        self.dirty: set[int] = set()
        """Pools where something an observation could see changed (queue, tasks running,
        replicas, ready pods, mean task time, the budget gate); the reader clears it."""
        self.alive = self.alive_peak = self.pod_peak = 0
        self.pod_seconds = self.t_alive = 0.0
        self._serial = 0

    def _create(self, p: SimPool, now: float, n: int = 1, *, ready: bool = False) -> None:
        """Create `n` pods for `p` at once; those beyond the cluster's or the tenant's quota
        wait for room (first come, first served: see _grant). With `ready`, they are ready at
        once: the fleet at time 0, before any task has arrived to wait for them."""
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
                self._turn_ready(pod, now)
            else:
                self._serial += 1
                heappush(self.heap, (now + p.cold_start, READY, self._serial, pod))

    def _turn_ready(self, pod: SimPod, now: float) -> None:
        """The pod is ready: it is free to take tasks (starting them is the layer above's)."""
        pod.ready = True
        pod.ready_at = now
        p = pod.pool
        p.ready += 1
        p.free.append(pod)
        pod.listed = True
        self.dirty.add(p.index)

    def _shrink(self, p: SimPool, n: int, now: float) -> None:
        """Take `n` replicas from `p`: its creations waiting for quota first, the newest first,
        then pods in the ReplicaSet's order; a busy one terminates (its KILL event ends it)."""
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
