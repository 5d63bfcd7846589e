"""The reconcile loop: observe, decide (the pure policy), actuate, tell.

Thin on purpose: all judgement is in controller.policy. The loop ticks every
`controller.interval_seconds` and at once when a task reaches a pool at zero replicas. A
source that fails marks its pools stale (the policy then holds their replicas, never scales
them down), raises a health event, and is retried with backoff until it answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping

from controller.config import Config
from controller.events import ActionEvent, EventBus, HealthEvent, ScaleEvent, TickEvent
from controller.history import History
from controller.model import Observations, Overrides, PoolObservation, ScaleDecision
from controller.overrides import OverrideStore
from controller.policy import decide
from controller.snapshot import FleetSnapshot, PoolRow, TenantRow, Trends
from controller.sources import (
    Actuator,
    ExplainingActuator,
    LagSource,
    Lease,
    PoolState,
    PoolUnavailable,
    QueueStats,
    SourceError,
    UsageSource,
)
from controller.usage import ReplicaSeconds

log = logging.getLogger("agentdash.loop")

MAX_BACKOFF_S = 8.0


class Reconciler:
    def __init__(
        self,
        config: Config,
        lag: LagSource,
        usage: UsageSource,
        actuator: Actuator,
        *,
        bus: EventBus | None = None,
        clock: Callable[[], float] = time.time,
        store: OverrideStore | None = None,
        lease: Lease | None = None,
        dry_run: bool = False,
    ) -> None:
        self.config = config
        self.lag = lag
        self.usage = usage
        self.actuator = actuator
        self.bus = bus or EventBus()
        self.clock = clock
        self.history = History(config)
        self.replica_seconds = ReplicaSeconds()
        """Each tenant's replicas over today, for budget pacing (controller.policy)."""
        self.store = store or OverrideStore(config, clock=clock)
        self.trends = Trends()
        self.lease = lease
        self.dry_run = dry_run
        """This process never patches (--dry-run), whatever the shared overrides say."""
        self.leading = lease is None
        self.leader_decisions: dict[str, ScaleDecision] = {}
        """What the leader decided, as it published it (followers show these)."""
        self.decisions: dict[str, ScaleDecision] = {}
        self.problems: dict[str, str] = {}
        """Source name -> what is wrong with it, while it is."""
        self.idle: set[str] = set(config.pools)
        self._stats: Mapping[str, QueueStats] = {}
        self._state: Mapping[str, PoolState] = {}
        self._observed = Observations({})
        self._woken: set[str] = set()
        self._wake = asyncio.Event()
        lag.watch_idle(self.idle, self._on_wake)

    @property
    def overrides(self) -> Overrides:
        return self.store.current()

    def act(self, event: ActionEvent) -> None:
        """Tell everyone about an operator action (already applied to the store)."""
        self.bus.publish(event)

    def _on_wake(self, pool: str) -> None:
        self._woken.add(pool)
        self._wake.set()

    async def tick(self, only: Collection[str] | None = None) -> list[ScaleDecision]:
        """One pass. `only`: re-read just these pools' queues (a wake-up), reuse the rest."""
        started = time.perf_counter()
        now = self.clock()
        await self._refresh(only)
        observations = self._observations()
        await self._lead(now)
        overrides = self.overrides
        decisions = decide(self.config, observations, overrides, self.history, now)
        self.history.record_tick(decisions, observations, now)
        for decision in decisions:
            if decision.changes and not overrides.paused and self.leading:
                await self._actuate(decision, now, overrides.dry_run or self.dry_run)
        self._observed = observations
        for name, obs in observations.pools.items():
            self.trends.add_lag(name, obs.lag)
        for tenant, tokens in observations.tokens_today.items():
            self.trends.add_tokens(tenant, now, tokens)
        self.decisions = {d.pool: d for d in decisions}
        if not self.leading and self.leader_decisions:
            self.decisions.update(self.leader_decisions)
        self.idle.clear()
        self.idle.update(d.pool for d in decisions if d.desired == 0 and d.observed)
        self.bus.publish(TickEvent(now, tuple(decisions), time.perf_counter() - started))
        return decisions

    async def _refresh(self, only: Collection[str] | None) -> None:
        now = self.clock()
        try:
            self._state = await self.actuator.observe()
            self._healthy("cluster", now)
        except SourceError as exc:
            self._unhealthy("cluster", str(exc), now)
        try:
            stats = await self.lag.read() if only is None else await self._read_some(only)
            self._stats = stats
            self._healthy("queue", now)
        except SourceError as exc:
            self._unhealthy("queue", str(exc), now)

    async def _read_some(self, pools: Collection[str]) -> Mapping[str, QueueStats]:
        fresh = await self.lag.read(pools)
        return {**self._stats, **fresh}

    def _observations(self) -> Observations:
        usage = self.usage.usage(self.clock())
        queue_problem = self.problems.get("queue")
        cluster_problem = self.problems.get("cluster")
        pools = {}
        for name in self.config.pools:
            state = self._state.get(name)
            if state is None:
                continue  # never seen: the policy leaves it alone
            stats = self._stats.get(name, QueueStats(0, 0, stale="queue not read yet"))
            stale = cluster_problem or queue_problem or stats.stale
            pools[name] = PoolObservation(
                stats.pending,
                stats.ack_pending,
                state.replicas,
                state.ready,
                stats.arrival_rate,
                usage.mean_task_seconds.get(name),
                stale,
            )
        stale_tokens = dict.fromkeys(usage.tokens_today, usage.stale) if usage.stale else {}
        unobserved = {}
        if isinstance(self.actuator, ExplainingActuator):
            unobserved = dict(self.actuator.problems)
        now = self.clock()
        replicas: dict[str, int] = {}
        for name, state in self._state.items():
            tenant = self.config.pools[name].tenant if name in self.config.pools else None
            if tenant is not None:
                replicas[tenant] = replicas.get(tenant, 0) + state.replicas
        for tenant, count in replicas.items():
            self.replica_seconds.set(tenant, count, now)
        spent = self.replica_seconds.today(now)
        return Observations(pools, usage.tokens_today, stale_tokens, unobserved, spent)

    async def _actuate(self, decision: ScaleDecision, now: float, dry: bool) -> None:
        if not dry:
            try:
                if isinstance(self.actuator, ExplainingActuator):
                    await self.actuator.scale_with_reason(
                        decision.pool, decision.desired, decision, now
                    )
                else:
                    await self.actuator.scale(decision.pool, decision.desired)
            except PoolUnavailable as exc:
                log.warning("not scaling %s", exc)  # that pool only: next tick holds it
                return
            except SourceError as exc:
                self._unhealthy("cluster", f"scaling {decision.pool}: {exc}", now)
                return
            self.history.record_scale(decision.pool, now, decision.current, decision.desired)
        self.bus.publish(ScaleEvent.of(decision, now, dry_run=dry))

    async def _lead(self, now: float) -> None:
        if self.lease is None:
            return
        was = self.leading
        self.leading = await self.lease.renew()
        if self.leading != was:
            detail = "leading" if self.leading else f"following {self.lease.leader_name}"
            log.info("lease: %s", detail)
            self.bus.publish(HealthEvent(now, "lease", True, detail))

    def _healthy(self, source: str, now: float) -> None:
        if self.problems.pop(source, None) is not None:
            log.info("%s source recovered", source)
            self.bus.publish(HealthEvent(now, source, True, "recovered"))

    def _unhealthy(self, source: str, detail: str, now: float) -> None:
        if self.problems.get(source) != detail:
            log.warning("%s source failing: %s", source, detail)
            self.bus.publish(HealthEvent(now, source, False, detail))
        self.problems[source] = detail

    def snapshot(self) -> FleetSnapshot:
        """The fleet as of the last tick, for the dashboard."""
        return build_snapshot(self)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; the tick in flight always finishes."""
        backoff = 0.0
        while not stop.is_set():
            woken, self._woken = self._woken, set()
            self._wake.clear()
            await self.tick(only=woken or None)
            interval = self.config.controller.interval_seconds
            backoff = min(MAX_BACKOFF_S, max(interval, backoff * 2)) if self.problems else 0.0
            await _first_of(stop, self._wake, timeout=backoff or interval)


async def _first_of(*events: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def build_snapshot(loop: Reconciler) -> FleetSnapshot:
    config, overrides, now = loop.config, loop.overrides, loop.clock()
    observed = loop._observed
    pools = []
    for name, pool in config.pools.items():
        obs = observed.pools.get(name)
        state = loop._state.get(name)
        decision = loop.decisions.get(name)
        pin = overrides.pins.get(name)
        pools.append(
            PoolRow(
                name,
                pool.tenant,
                config.tier_of[name],
                obs.pending if obs else 0,
                obs.ack_pending if obs else 0,
                obs.arrival_rate if obs else None,
                state.replicas if state else 0,
                decision.desired if decision else 0,
                state.ready if state else 0,
                pin.replicas if pin is not None and pin.active(now) else None,
                _pool_state(name, obs, decision, overrides, pool.tenant),
                decision,
                tuple(loop.trends.lag.get(name, ())),
            )
        )
    used: dict[str, int] = {}
    for row in pools:
        used[row.tenant] = used.get(row.tenant, 0) + row.replicas
    tenants = tuple(
        TenantRow(
            name,
            tenant.tier,
            observed.tokens_today.get(name, 0),
            tenant.daily_token_budget,
            tenant.warn_at,
            tenant.hard_cap,
            loop.trends.burn_per_min(name),
            used.get(name, 0),
            tenant.max_pods,
            name in overrides.paused_tenants,
        )
        for name, tenant in config.tenants.items()
    )
    pods = tuple(pod for state in loop._state.values() for pod in state.pods)
    dry = overrides.dry_run or loop.dry_run
    mode = "paused" if overrides.paused else ("dry-run" if dry else "running")
    if not loop.leading and loop.lease is not None:
        mode = f"following {loop.lease.leader_name or 'nobody yet'}"
    return FleetSnapshot(now, tuple(pools), tenants, pods, config.cluster.max_pods, mode,
                         dict(loop.problems))  # fmt: skip


def _pool_state(
    name: str,
    obs: PoolObservation | None,
    decision: ScaleDecision | None,
    overrides: Overrides,
    tenant: str,
) -> str:
    if obs is None or decision is None:
        return "unknown"
    if obs.stale is not None:
        return "stale"
    if tenant in overrides.paused_tenants:
        return "paused"
    if decision.main_reason.rule == "budget exhausted":
        return "budget"
    if decision.desired > obs.replicas:
        return "scaling up"
    if decision.desired < obs.replicas:
        return "scaling down"
    if obs.replicas == 0:
        return "idle"
    return "steady"
