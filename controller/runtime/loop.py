"""The reconcile loop: observe, decide, actuate, tell. A thin asyncio shell around the core's
engine (controller.core.engine.Engine), the very one the backtest runs in virtual time
(controller.simulate.shell): read the sources, feed the engine what changed, act on the pools
whose decision may have changed, publish.

Thin on purpose: all judgement is in controller.core.policy. The loop ticks every
`controller.interval_seconds` and at once when a task reaches a pool at zero replicas. A
source that fails marks its pools stale (the policy then holds their replicas, never scales
them down), raises a health event (controller.runtime.health), and is retried with backoff
until it answers again.

Each pool's scale call runs as a task of its own, bounded by a deadline and fenced by the
lease (controller.runtime.actuation): the loop does not wait for them, so one pool's hung
call never delays another pool's decision or call.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping
from typing import cast

from controller.actuators.base import Actuator, ExplainingActuator
from controller.coordination.handover import HistoryHandover
from controller.coordination.lease import Lease
from controller.coordination.overrides import OverrideStore
from controller.coordination.spend_handover import SpendHandover
from controller.coordination.usage_handover import UsageHandover
from controller.core.config import Config
from controller.core.engine import Engine
from controller.core.events import ActionEvent, EventBus, TickEvent
from controller.core.model import Overrides, PoolState, QueueStats, ScaleDecision
from controller.runtime.actuation import CALL_DEADLINE_S, ScaleCalls
from controller.runtime.engine_feed import EngineFeed
from controller.runtime.health import TOKENS, SourceHealth
from controller.runtime.leader_view import LeaderView
from controller.runtime.leadership import Bench, LeaseTeller, read_again_in
from controller.runtime.reads import SourceReads
from controller.runtime.schedule import TickSchedule
from controller.runtime.snapshot import FleetSnapshot, Trends, build_snapshot
from controller.runtime.succession import Succession
from controller.runtime.taking import DecisionTaker
from controller.runtime.timeline import Point, Timeline
from controller.sources.base import LagSource, UsageSource

log = logging.getLogger("agentdash.loop")


class Reconciler:
    """The live loop. It owns the pieces and calls them in order at each tick: the sources'
    `reads` (with deadlines), `engine_feed`, the lease, the handovers (`succession`), the
    overrides' expiry, the engine's step, `taker` (with `scale_calls`), the trends and the
    TickEvent; `health` keeps what fails, `schedule` says when to tick, and `snapshot` shows
    the fleet. A follower shows the leader's decisions and replicas (`leader_view`) over its
    own."""

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
        call_deadline: float = CALL_DEADLINE_S,
        handover: HistoryHandover | None = None,
        spend_handover: SpendHandover | None = None,
        usage_handover: UsageHandover | None = None,
        timer: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.lag = lag
        self.usage = usage
        self.actuator = actuator
        self.bus = bus or EventBus()
        self.clock = clock
        self.schedule = TickSchedule(timer, sleep)
        """When `run` ticks."""
        self.engine = Engine(config, exact_reasons=True)
        """Claims, history and allocation: reasons quote the latest figures (exact_reasons)."""
        self.history = self.engine.history
        self.store = store or OverrideStore(config, clock=clock)
        self.trends = Trends()
        self.timeline = Timeline()
        self.health = SourceHealth(self.bus)
        """The failing sources and the pools held for want of data."""
        self.call_deadline = call_deadline
        """The most a read, a lease renewal or a scale call may take."""
        self._lead_by(lease, dry_run=dry_run, timer=timer)
        self.scale_calls = ScaleCalls(
            actuator,
            self.engine,
            self.health,
            self.bus,
            lease=lease,
            leads=lambda: self.leading,
            deadline=call_deadline,
        )
        self.succession = Succession(
            self.engine,
            handover=handover,
            spend_handover=spend_handover,
            usage_handover=usage_handover,
        )
        """The handovers: what this process takes over on leading and keeps for the next."""
        self.taker = DecisionTaker(self.engine, self.scale_calls, config.pools)
        """What a tick does with the decisions it made again (controller.runtime.taking)."""
        self.decisions = self.taker.shown
        self.idle = self.taker.idle
        self._read_from(actuator, lag, clock=clock, deadline=call_deadline)

    def _read_from(
        self, actuator: Actuator, lag: LagSource, *, clock: Callable[[], float], deadline: float
    ) -> None:
        """The parts that read the cluster and the queues and feed the engine what changed; a
        task reaching a pool at zero replicas wakes the loop at once."""
        self.reads = SourceReads(
            actuator, lag, self.health, clock=clock, deadline=deadline, shown=self._shown
        )
        """The cluster's and the queues' last answers."""
        self.engine_feed = EngineFeed(self.config, self.engine, self.health, self.trends)
        """What was last fed to the engine, and the pools held for want of data."""
        self._explaining = isinstance(actuator, ExplainingActuator)
        lag.watch_idle(self.idle, self.schedule.wake)

    def _lead_by(self, lease: Lease | None, *, dry_run: bool, timer: Callable[[], float]) -> None:
        """The parts about who leads: without a lease this process always does."""
        self.lease = lease
        self.bench = Bench(lease) if lease is not None else None
        """A leader cut off from the cluster gives the lease up (leadership.Bench)."""
        self.dry_run = dry_run
        """This process never patches (--dry-run), whatever the shared overrides say, nor
        leads: it tells each change it would make, leading or not."""
        self.leading = lease is None
        self._led_at = -math.inf
        """When (monotonic) the lease was last renewed or read."""
        self.leader_view = LeaderView()
        """What the leader published last, which a follower shows over its own view."""
        self._was_acting = False
        self.lease_teller = (
            None if lease is None else LeaseTeller(lease, self.health, self.bus, timer)
        )
        """What the loop says about the lease: who leads, a broken lease, none for long."""

    def _shown(self, own: Mapping[str, PoolState]) -> Mapping[str, PoolState]:
        """The cluster as shown: on a follower, with the leader's replicas and ready."""
        return own if self.leading else self.leader_view.over(own)

    @property
    def overrides(self) -> Overrides:
        return self.store.current()

    @property
    def _acting(self) -> dict[str, asyncio.Task[None]]:
        """Pools with a scale call in flight."""
        return self.scale_calls.in_flight

    @property
    def problems(self) -> dict[str, str]:
        """Source name (or "scale <pool>") -> what is wrong with it, while it is."""
        return self.health.problems

    @property
    def stale(self) -> dict[str, str]:
        """Pool -> why its data cannot be trusted (so it is held), as of the last tick."""
        return self.health.stale

    def announce(self, event: ActionEvent) -> None:
        """Tell everyone about an operator action (already applied to the store)."""
        self.bus.publish(event)

    async def tick(
        self, only: Collection[str] | None = None, *, settle: bool = True
    ) -> list[ScaleDecision]:
        """One pass. `only`: re-read just these pools' queues (a wake-up), reuse the rest.
        `settle`: wait for the scale calls this pass starts (`run` does not: see the module).
        Returns this process's decision for every pool, in config order; the TickEvent it
        publishes carries only the decisions made again (the pools whose inputs changed)."""
        await self._tick(only, settle=settle)
        return self.engine.decisions()

    async def _tick(self, only: Collection[str] | None, *, settle: bool) -> None:
        started = time.perf_counter()
        now = self.clock()
        # The lease is renewed while the sources are read: with NATS stalled, a tick waits
        # for the longer of their deadlines, not for both in turn.
        await asyncio.gather(self.reads.refresh(only), self._lead(now))
        engine = self.engine
        self._feed(now)
        await self.succession.take_over(self.leading, now)
        self._expire(now)
        overrides = self.overrides
        # A process's own dry run never leads (it takes no lease): it says what it would do.
        acting = (self.leading or self.dry_run) and not overrides.paused
        if acting and not self._was_acting:  # (the first step claims every pool anyway)
            engine.touch_all()  # leading (or unpaused) again: every pool's change is due
        self._was_acting = acting
        engine.overrides(overrides)
        pools = engine.step(now)
        dry = overrides.dry_run or self.dry_run
        taken = self.taker.take(
            pools,
            now,
            acting=acting,
            dry_run=dry,
            leading=self.leading,
            leader_view=self.leader_view,
        )
        for tenant, tokens in engine.observations.tokens_today.items():
            self.trends.add_tokens(tenant, now, tokens)
        self.trends.next_tick()
        self.health.flush(now)  # what has lasted long enough to be told, grouped
        if self.timeline.due(now):
            self.timeline.sample(now, self._points(now))
        cost = time.perf_counter() - started
        self.bus.publish(TickEvent(ts=now, decisions=tuple(taken.decisions), duration_s=cost))
        if settle and taken.calls:
            await asyncio.wait(taken.calls)
        await self.succession.hand_on(self.leading, now)

    def _points(self, now: float) -> Iterator[tuple[str, Point]]:
        """Every pool seen, as the timeline keeps it: replicas and ready as read, desired as
        last decided (the leader's, on a follower), lag as read."""
        for pool in self.engine.pools:
            reading, decision = pool.reading, self.decisions.get(pool.name)
            if reading is None or decision is None:
                continue
            lag = reading.lag if reading.stale is None else 0
            point = Point(now, reading.replicas, decision.desired, reading.ready, lag)
            yield pool.name, point

    async def settle(self) -> None:
        """Wait for every scale call in flight (each ends by its deadline)."""
        await self.scale_calls.settle()

    def _expire(self, now: float) -> None:
        """End the pins and pool pauses whose time is up, once: only the leader writes (a
        follower learns it through the shared overrides), and a read-only process never."""
        if not self.leading or self.store.read_only:
            return
        for event in self.store.expire(now):
            log.info("%s %s (%s)", event.action, event.target, event.detail)
            self.bus.publish(event)

    def _feed(self, now: float) -> None:
        """Tell the engine what the sources said (see controller.runtime.engine_feed), and
        the health whether the token counts are fresh (stale ones hold the budgets, and
        make the process not ready: a tenant may be spending past its budget unseen)."""
        usage = self.usage.usage(now)
        if usage.stale is None:
            self.health.healthy(TOKENS, now)
        else:
            self.health.unhealthy(TOKENS, usage.stale, now)
        unobserved: Mapping[str, str] = {}
        chosen: Collection[str] = ()
        if self._explaining:
            explaining = cast(ExplainingActuator, self.actuator)
            unobserved, chosen = explaining.problems, explaining.left_by_choice
        self.engine_feed.feed(
            now,
            states=self.reads.state,
            stats=self.reads.stats,
            usage=usage,
            unobserved=unobserved,
            chosen=chosen,
        )

    async def _lead(self, now: float) -> None:
        """Renew the lease, within the deadline; say what changed about it (who leads, a
        broken lease: controller.runtime.leadership)."""
        if self.lease is None:
            return
        if self.bench is None:  # a lease given after the start (as the tests give theirs)
            self.bench = Bench(self.lease)
        was = self.leading
        self._led_at = time.monotonic()
        self.bench.before_renewal(now)
        try:  # a stalled renew must not stall the loop: the lease lapses by itself
            self.leading = await asyncio.wait_for(self.lease.renew(), self.call_deadline)
        except TimeoutError:
            self.leading = False
        cut_off = self.scale_calls.cut_off
        self.leading = await self.bench.after_renewal(self.leading, cut_off, now)
        if not self.leading:
            self.scale_calls.cut_off = None  # a new lead is judged on its own calls
        if self.leading and not was:
            # What another leader said is over: shown again if this one loses the lease (a
            # NATS outage), it would read as a drop to that leader's old replicas.
            self.leader_view = LeaderView()
        if self.lease_teller is not None:
            self.lease_teller.renewed(was, self.leading, self.leader, now)

    @property
    def leader(self) -> str | None:
        """Who leads, as this process knows: itself while it leads, never itself otherwise
        (a lease it cannot renew is no proof that it leads); None: no one, or not known."""
        if self.lease is None:
            return None
        name = self.lease.leader_name
        if self.leading:
            return name
        return name if name != self.lease.holder else None

    @property
    def queues(self) -> Mapping[str, QueueStats]:
        """Each pool's queue as last read (the last answer stands for a read that failed)."""
        return self.reads.stats

    def ready_of(self, pools: Iterable[str]) -> dict[str, int]:
        """Ready replicas of these pools, as this process sees them (those it sees)."""
        state = self.reads.state
        return {pool: state[pool].ready for pool in pools if pool in state}

    def snapshot(self) -> FleetSnapshot:
        """The fleet as of the last tick, for the dashboard."""
        overrides = self.overrides
        following = not self.leading and self.lease is not None
        leader = self.leader if following else None
        # a follower's own --dry-run changes nothing: the leader acts, by the overrides
        dry = overrides.dry_run or (self.dry_run and not following)
        return build_snapshot(
            self.config,
            now=self.clock(),
            overrides=overrides,
            observed=self.engine.observations,
            states=self.reads.state,
            decisions=self.decisions,
            trends=self.trends,
            dry_run=dry,
            # both, when both: dry-run outlasts a pause, and an operator must see it is on
            mode=", ".join(["paused"] * overrides.paused + ["dry-run"] * dry) or "running",
            problems=self.health.report(len(self.config.pools)),
            leader=leader or None,
            leaderless=following and not leader,
            leader_decided=self.leader_view.decisions.keys(),
            leader_silent_s=self._leader_silent(leader),
            queues=self.reads.stats,
        )

    async def _pause(self, stop: asyncio.Event) -> None:
        """Until the next tick: its time, a wake-up or `stop`. On the way, the lease is
        renewed (or read, not leading) whenever the tick would come too late for it: the
        lease is renewed by a tick, and the next one may be further off than the lease
        lasts (an interval longer than the lease, a backoff while a source fails)."""
        schedule = self.schedule
        while True:
            left = schedule.left()
            renew_in = self._renew_in()
            if renew_in is None or renew_in >= left:
                await schedule.pause(stop, left)
                return
            await schedule.pause(stop, renew_in)
            if stop.is_set() or schedule.woken:
                return
            await self._lead(self.clock())

    def _renew_in(self) -> float | None:
        """Seconds until the lease must be renewed, its deadline included: the leader's
        before it runs out; another's read before what it last read of it no longer names a
        leader (leadership.read_again_in). None: no lease."""
        if self.lease is None:
            return None
        now = time.monotonic()  # the lease's clock, not the schedule's
        if self.leading:
            return self.lease.valid_until - now - self.call_deadline
        return read_again_in(
            read_at=self._led_at,
            ttl=self.lease.ttl,
            holder_ttl=self.lease.holder_ttl,
            call_deadline=self.call_deadline,
            now=now,
        )

    def _leader_silent(self, leader: str | None) -> float | None:
        """For how long the leader we follow has sent nothing, once that is more than
        SILENT_TICKS of its ticks; else None."""
        if not leader:
            return None
        return self.leader_view.silent_for(self.clock(), self.config.controller.interval_seconds)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set, when controller.runtime.schedule says; the tick in
        flight, and the calls it started, finish."""
        schedule = self.schedule
        schedule.start()
        try:
            while not stop.is_set():
                await self._tick(schedule.begin_tick(), settle=False)
                interval = self.config.controller.interval_seconds
                schedule.end_tick(interval, failing=self.health.sources_failing())
                await self._pause(stop)
        finally:
            await self.settle()
