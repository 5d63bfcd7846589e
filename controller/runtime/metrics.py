"""agentdash's own Prometheus metrics, fed from the event bus.

Names follow Prometheus conventions: `agentdash_` prefix, base units, `_total` on counters.
Each Metrics has its own registry, so several controllers (tests, a dashboard that embeds
one) never collide.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import metadata

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controller.core.bad_messages import BadMessages
from controller.core.config import Config
from controller.core.events import Event, HealthEvent, ScaleEvent, TickEvent
from controller.core.model import QueueStats, ScaleDecision
from controller.core.pool_state import starved
from controller.runtime.health import SOURCES, TOKENS
from controller.runtime.snapshot import FleetSnapshot

# In the text format a counter's creation time is a gauge family of its own (`X_created`), a
# second series for every counter and histogram, that Prometheus stores and no rule reads.
disable_created_metrics()  # type: ignore[no-untyped-call]

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""What `render` writes: the text format, version 0.0.4, as the exposition format names it."""


class Metrics:
    def __init__(
        self,
        config: Config,
        bad: BadMessages | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.registry = CollectorRegistry()
        r = self.registry
        self.bad = bad or BadMessages()
        """Shared with the sources that count what they drop; read at each scrape."""
        r.register(_BadMessagesCollector(self.bad))
        self.waits = _WaitCollector(config, clock)
        """How long each pool's oldest task has waited, as of each scrape."""
        r.register(self.waits)
        self._pool_families(r)
        self._tenant_families(r)
        self._health_families(r)
        self._flags: dict[str, tuple[bool, bool]] = {}
        """Per pool, what its starved and capped series show."""
        self._series: dict[str, tuple[Gauge, Gauge]] = {}
        """Per pool, its desired and current series (a label lookup costs µs a tick)."""
        self._made: dict[tuple[str, str], Counter] = {}
        self._lag: dict[str, Gauge] = {}
        self._scaled: dict[tuple[str, str, str], Counter] = {}
        self._shown: dict[str, tuple[int, int | None]] = {}
        """Per pool, the desired and current replicas its gauges show."""
        self._tokens_told: dict[str, int | None] = {}
        self._sources_told: set[str] | None = set()
        """The sources a health event has set, until the first pass sets the others up."""
        _build_info(r)

    def _pool_families(self, r: CollectorRegistry) -> None:
        """Each pool's replicas, lag, decisions and scale events."""
        self.desired = Gauge(
            "agentdash_pool_desired_replicas",
            "Replicas the policy decided",
            ["pool", "tenant"],
            registry=r,
        )
        self.current = Gauge(
            "agentdash_pool_current_replicas",
            "Replicas the pool has",
            ["pool", "tenant"],
            registry=r,
        )
        self.lag = Gauge(
            "agentdash_pool_lag_tasks", "Queue lag: pending + ack_pending", ["pool"], registry=r
        )
        self.decisions = Counter(
            "agentdash_decisions_total",
            "Decisions made, by pool and the rule that bound last (a pool is "
            "decided again when its inputs change, and at every tick while it is held, "
            "rule stale)",
            ["pool", "rule"],
            registry=r,
        )
        self.scale_events = Counter(
            "agentdash_scale_events_total",
            "Replica changes, by pool, direction and main reason",
            ["pool", "direction", "reason"],
            registry=r,
        )
        self.starved = Gauge(
            "agentdash_pool_starved",
            "1 while a shared ceiling (cluster or tenant max_pods, a provider's "
            "rpm) gives the pool fewer replicas than it asks for",
            ["pool", "tenant"],
            registry=r,
        )
        self.capped = Gauge(
            "agentdash_pool_capped",
            "1 while the pool's own max_replicas gives it fewer replicas than it asks for",
            ["pool", "tenant"],
            registry=r,
        )

    def _tenant_families(self, r: CollectorRegistry) -> None:
        """Each tenant's tokens today, and its share of its budget."""
        self.tokens = Gauge(
            "agentdash_tenant_tokens_today", "Tokens used today", ["tenant"], registry=r
        )
        self.budget_used = Gauge(
            "agentdash_tenant_budget_used_ratio",
            "Tokens today over the daily budget",
            ["tenant"],
            registry=r,
        )

    def _health_families(self, r: CollectorRegistry) -> None:
        """The controller's own: its passes' time, its sources' health, the lease."""
        self.reconcile = Histogram(
            "agentdash_reconcile_duration_seconds",
            "Time of one reconcile pass",
            registry=r,
            # up to a tick that waits out its reads' deadlines on a stalled NATS or API server
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.source_errors = Counter(
            "agentdash_source_errors_total",
            "Times a source or the cluster could not be read",
            ["source"],
            registry=r,
        )
        self.source_up = Gauge(
            "agentdash_source_up", "1 while the source answers", ["source"], registry=r
        )
        self.pool_stale = Gauge(
            "agentdash_pool_stale",
            "1 while a pool is held because its data cannot be trusted",
            ["pool", "reason"],
            registry=r,
        )
        self.leader = Gauge(
            "agentdash_leader", "1 while this process holds the lease (scales)", registry=r
        )
        self.paused = Gauge(
            "agentdash_controller_paused",
            "1 while an operator has paused the controller: no pool is scaled",
            registry=r,
        )
        self.dry_run = Gauge(
            "agentdash_controller_dry_run",
            "1 while the controller decides and logs but never patches (--dry-run, or an "
            "operator's)",
            registry=r,
        )

    def observe(self, event: Event) -> None:
        if isinstance(event, TickEvent):
            self.reconcile.observe(event.duration_s)
            if self._sources_told is not None:
                self._first_pass(self._sources_told)
            series, shown, made = self._series, self._shown, self._made
            for d in event.decisions:
                pool = d.pool
                now = (d.desired, d.current if d.observed else None)
                if shown.get(pool) != now:  # a gauge set takes a lock: only what moved
                    shown[pool] = now
                    mine = series.get(pool)
                    if mine is None:
                        mine = series[pool] = (
                            self.desired.labels(pool, d.tenant),
                            self.current.labels(pool, d.tenant),
                        )
                    mine[0].set(d.desired)
                    if d.observed:
                        mine[1].set(d.current)
                self._show_flags(d)  # (starved with the same replicas, as demand grows)
                key = (pool, d.main_reason.rule)
                counter = made.get(key)
                if counter is None:
                    counter = made[key] = self.decisions.labels(*key)
                counter.inc()
        elif isinstance(event, ScaleEvent) and not event.dry_run:
            rule = event.reasons[-1].rule if event.reasons else ""
            step = (event.pool, event.direction, rule)
            scaled = self._scaled.get(step)
            if scaled is None:
                scaled = self._scaled[step] = self.scale_events.labels(*step)
            scaled.inc()
        elif isinstance(event, HealthEvent):
            if self._sources_told is not None:
                self._sources_told.add(event.source)
            self.source_up.labels(event.source).set(1 if event.ok else 0)
            if not event.ok:
                self.source_errors.labels(event.source).inc()

    def _first_pass(self, told: set[str]) -> None:
        """A source is told only when its health changes: one that has not failed by the end
        of the first pass is up, and said so (it had no series until it failed, and a graph
        or an alert on it read "no data")."""
        for source in (*SOURCES, TOKENS):
            self.source_errors.labels(source)  # at 0: rate() reads "none", not "no data"
            if source not in told:
                self.source_up.labels(source).set(1)
        self._sources_told = None

    def _show_flags(self, decision: ScaleDecision) -> None:
        """Whether a shared ceiling starves the pool, and whether its max_replicas caps it:
        it asks for more than it may have (a held pool asks for nothing)."""
        now = (starved(decision), capped(decision))
        if self._flags.get(decision.pool) != now:
            self._flags[decision.pool] = now
            pool, tenant = decision.pool, decision.tenant
            self.starved.labels(pool, tenant).set(1 if now[0] else 0)
            self.capped.labels(pool, tenant).set(1 if now[1] else 0)

    def observe_queues(self, queues: Mapping[str, QueueStats]) -> None:
        """The lag source's last readings: each pool's oldest waiting task, aged at scrape."""
        self.waits.queues = queues

    def observe_snapshot(self, snapshot: FleetSnapshot) -> None:
        """Every pool's lag and every tenant's tokens, from a whole picture of the fleet."""
        self.observe_lag((pool.name, pool.lag) for pool in snapshot.pools)
        self.observe_tokens({tenant.name: tenant.tokens_today for tenant in snapshot.tenants})

    def observe_lag(self, lags: Iterable[tuple[str, int | None]]) -> None:
        """The lag of the pools given (a tick gives those whose reading changed); None: the
        pool is no longer seen, and its series goes (no stale figure stays on a graph)."""
        gauge, children = self.lag, self._lag
        for pool, lag in lags:
            if lag is None:
                if children.pop(pool, None) is not None:
                    gauge.remove(pool)
                continue
            child = children.get(pool)
            if child is None:
                child = children[pool] = gauge.labels(pool)
            child.set(lag)

    def observe_tokens(self, tokens: Mapping[str, int]) -> None:
        """Each tenant's tokens today, and the share of its budget they are (set only for
        the tenants whose tokens moved). A tenant missing from `tokens` is not known (its
        Prometheus has not answered since the start): no series, not a 0 that reads as a
        fresh day."""
        told = self._tokens_told
        for name, tenant in self.config.tenants.items():
            used = tokens.get(name)
            if name in told and told[name] == used:
                continue
            shown = told.get(name) is not None
            told[name] = used
            budget = tenant.daily_token_budget
            if used is None:
                if shown:
                    self.tokens.remove(name)
                    if budget:
                        self.budget_used.remove(name)
                continue
            self.tokens.labels(name).set(used)
            if budget:
                self.budget_used.labels(name).set(used / budget)

    def observe_state(self, stale: Mapping[str, str], leading: bool) -> None:
        """The pools held for want of data now (a reason that changed drops its old series),
        and whether this process leads."""
        self.pool_stale.clear()
        for pool, why in stale.items():
            self.pool_stale.labels(pool, why[:200]).set(1)
        self.leader.set(1 if leading else 0)

    def observe_mode(self, paused: bool, dry_run: bool) -> None:
        """Whether the controller is paused, and whether it only decides (dry-run)."""
        self.paused.set(1 if paused else 0)
        self.dry_run.set(1 if dry_run else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def capped(decision: ScaleDecision) -> bool:
    """The pool's max_replicas bound what it asks for (its queue's demand, or a number an
    operator set)."""
    return not decision.held and any(r.rule == "max_replicas" for r in decision.reasons)


def _version() -> str:
    try:
        return metadata.version("agentdash")
    except metadata.PackageNotFoundError:  # run from a source tree that was not installed
        return "unknown"


class _WaitCollector(Collector):
    """Per pool, how long its oldest task has waited for a worker at the moment of the scrape
    (0: none waits; no series: not known), with its tier; and each tier's target."""

    def __init__(self, config: Config, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.queues: Mapping[str, QueueStats] = {}
        self._tier_of = config.tier_of
        self._targets = {
            name: tier.target_wait_seconds
            for name, tier in config.tiers.items()
            if tier.target_wait_seconds is not None
        }

    def collect(self) -> Iterator[Metric]:
        ages = GaugeMetricFamily(
            "agentdash_pool_oldest_task_age_seconds",
            "How long the pool's oldest task not yet taken by a worker has waited (0: none waits)",
            labels=["pool", "tier"],
        )
        now = self._clock()
        tier_of = self._tier_of
        for pool, stats in self.queues.items():
            if stats.stale is not None or pool not in tier_of:
                continue
            if not stats.pending:
                ages.add_metric([pool, tier_of[pool]], 0.0)
            elif stats.oldest_at is not None:
                ages.add_metric([pool, tier_of[pool]], max(0.0, now - stats.oldest_at))
        yield ages
        targets = GaugeMetricFamily(
            "agentdash_tier_target_wait_seconds",
            "The tier's target_wait_seconds (tiers that set one)",
            labels=["tier"],
        )
        for tier, target in self._targets.items():
            targets.add_metric([tier], target)
        yield targets


class _BadMessagesCollector(Collector):
    def __init__(self, bad: BadMessages) -> None:
        self._bad = bad

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "agentdash_bad_messages",
            "Messages, KV values and answers dropped as invalid",
            labels=["source"],
        )
        for source, count in sorted(self._bad.counts.items()):
            family.add_metric([source], count)
        yield family


def _build_info(r: CollectorRegistry) -> None:
    build = Gauge(
        "agentdash_build_info",
        "The agentdash release and Python running",
        ["version", "python"],
        registry=r,
    )
    build.labels(_version(), platform.python_version()).set(1)
