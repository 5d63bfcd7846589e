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

from heapq import heapify, heappush

from controller.core.config import Config
from controller.simulate.cluster_parts import (
    DONE,
    KILL,
    MICRO,
    READY,
    ROLL,
    SAMPLE,
    Event,
    Provider,
    SimPool,
    Tenant,
)
from controller.simulate.task_queues import TaskQueues
from controller.simulate.trace import Trace

REVERSAL_S = 300.0
"""A scale step against the pool's previous one within this long is a reversal (thrash)."""


class Cluster(TaskQueues):
    """The cluster the clock and the autoscalers drive, built from the config and the trace:
    the heap's events go to the layers below (TaskQueues, PodFleet), and the autoscalers' steps
    are counted here."""

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
        tenants = {
            name: Tenant(name, t.daily_token_budget, t.hard_cap, t.max_pods)
            for name, t in config.tenants.items()
        }
        providers = {name: Provider(name, pr.rpm) for name, pr in config.providers.items()}
        pools = _pools(config, tenants, providers, gate_budgets=gate_budgets)
        quota = config.cluster.max_pods
        super().__init__(tenants, pools, trace, quota=quota, marks_idle=marks_idle)
        self.providers = providers
        self.horizon = horizon
        for provider in self.providers.values():
            if self._most_rpm(provider) <= provider.rpm:
                for p in self.pools:  # it never binds: its pools need not count their requests
                    if p.provider is provider:
                        p.provider = None
        self.scale_events = self.reversals = 0
        self.steps: list[tuple[float, str, int, int]] = []
        """(time, pool, from, to) for every change of a Deployment's replicas."""
        self.series: list[tuple[float, int, int]] = []
        """(time, peak lag, peak pods) since the previous sample."""
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

    # --- what the clock feeds in (arrive and complete: TaskQueues) --------------------------

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

    def _count_step(self, p: SimPool, delta: int, now: float) -> None:
        direction = 1 if delta > 0 else -1
        self.scale_events += 1
        if p.last_direction == -direction and now - p.last_step_at <= REVERSAL_S:
            self.reversals += 1
        p.last_direction, p.last_step_at = direction, now


def _pools(
    config: Config,
    tenants: dict[str, Tenant],
    providers: dict[str, Provider],
    *,
    gate_budgets: bool,
) -> list[SimPool]:
    """The config's pools, in its order, each in its tenant's list: gated by the tenant's
    budget where budgets are gated and it is a hard cap, bound by its provider's rpm where it
    makes requests to one."""
    pools: list[SimPool] = []
    for index, (name, cfg) in enumerate(config.pools.items()):
        tenant = tenants[cfg.tenant]
        p = SimPool(index, name, tenant, cfg.cold_start_seconds, cfg.concurrency)
        if gate_budgets and tenant.budget is not None and tenant.hard_cap:
            p.gate = tenant
        if cfg.provider is not None and cfg.rpm_per_replica > 0:
            p.provider = providers[cfg.provider]
            p.demand = max(1, round(cfg.rpm_per_replica * MICRO / cfg.concurrency))
        p.grace = cfg.termination_grace_seconds
        tenant.pools.append(p)
        pools.append(p)
    return pools
