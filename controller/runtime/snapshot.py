"""A picture of the whole fleet at one moment, for anything that shows it (the dashboard, an
observer attached to another process's controller). Plain values, no UI."""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

from controller.core.config import Config
from controller.core.model import (
    Observations,
    Overrides,
    Pod,
    PoolObservation,
    PoolState,
    QueueStats,
    ScaleDecision,
)
from controller.core.pool_state import LEFT_ALONE, budget_next, state_of, what_next

TREND_POINTS = 60
"""Lag samples kept per pool for the sparkline (one a tick: a minute at 1 s)."""
BURN_WINDOW_S = 300.0
EMPTY: Mapping[str, QueueStats] = {}


@dataclass(frozen=True, slots=True)
class PoolRow:
    name: str
    tenant: str
    tier: str
    pending: int
    ack_pending: int
    arrival_rate: float | None
    replicas: int
    desired: int
    ready: int
    pin: int | None
    state: str
    """A short label (14 cells at most) whose first word is its kind: idle, steady, scaling
    up, scaling down, starved, capped, held, paused, pinned, stale, budget, dry-run, left
    alone, unknown; e.g.
    "held 42s", "pinned 4m" (controller.core.pool_state)."""
    decision: ScaleDecision | None
    trend: tuple[int | None, ...] = ()
    """Lag at each recent tick; None where it could not be read (stale)."""
    state_detail: str = ""
    """One sentence: why the pool is in this state (which rule, ceiling or pause, how long)."""
    pin_until: float | None = None
    """When the active pin expires (epoch seconds); None: no pin, or until unpinned."""
    next_step: str = ""
    """What the pool does next by time alone ("cooldown ends 12:05:05 UTC (in 40 s) -> 0"),
    or "" (controller.core.pool_state.what_next)."""
    oldest_wait_s: float | None = None
    """How long its oldest task has waited for a worker (seconds); None: none waits, or
    unknown (see `waits_unknown`)."""
    target_wait_s: float | None = None
    """Its tier's target_wait_seconds, if the tier sets one."""

    @property
    def lag(self) -> int:
        return self.pending + self.ack_pending

    @property
    def waits_unknown(self) -> bool:
        """Tasks wait for a worker, but how long the oldest has is not known (yet)."""
        return self.oldest_wait_s is None and self.pending > 0

    @property
    def over_target(self) -> bool:
        """Its oldest task has waited longer than its tier's target_wait_seconds."""
        wait, target = self.oldest_wait_s, self.target_wait_s
        return wait is not None and target is not None and wait > target


@dataclass(frozen=True, slots=True)
class TenantRow:
    name: str
    tier: str
    tokens_today: int
    budget: int | None
    warn_at: float
    hard_cap: bool
    burn_per_min: float
    pods: int
    max_pods: int | None
    paused: bool
    held: bool = False
    """Its budget holds every one of its pools at 0: nothing is in flight, nothing burns."""

    def runs_out_in(self) -> float | None:
        """Seconds until the budget is spent at the current burn rate; None if never, as for a
        paused tenant or one its budget holds at 0: its pools are at 0, though the burn rate
        (a fit over hours) still counts the minutes before."""
        if self.paused or self.budget is None or self.burn_per_min <= 0:
            return None
        left = max(0.0, (self.budget - self.tokens_today) / self.burn_per_min * 60)
        return None if self.held and left > 0 else left


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    ts: float
    pools: tuple[PoolRow, ...]
    tenants: tuple[TenantRow, ...]
    pods: tuple[Pod, ...]
    cluster_cap: int
    state: str
    """What the controller does, by the overrides: running, paused, dry-run, or both of these
    ("paused, dry-run")."""
    problems: Mapping[str, str] = field(default_factory=dict)
    leader: str | None = None
    """Who leads, when another process does and this one follows it."""
    leaderless: bool = False
    """This process follows, and no controller leads: nothing scales, and the rows show the
    last leader's decisions, no longer current."""
    leader_silent_s: float | None = None
    """For how long the leader followed has sent nothing, when that is several of its ticks
    (it may be dead, its lease not yet run out); else None."""

    @property
    def pods_used(self) -> int:
        return sum(p.replicas for p in self.pools)

    @property
    def tokens_today(self) -> int:
        return sum(t.tokens_today for t in self.tenants)


class Trends:
    """Recent lag per pool and token burn per tenant. A pool's lag is told only when it may
    have changed (a tick costs nothing for the pools that did not); `lag_series` spreads it
    back over the last TREND_POINTS ticks."""

    def __init__(self) -> None:
        self.ticks = 0
        self._lag: dict[str, deque[tuple[int, int | None]]] = {}
        """Per pool: (tick, lag) at each change, at most one entry a tick (None: stale)."""
        self._tokens: dict[str, deque[tuple[float, int]]] = {}

    def next_tick(self) -> None:
        self.ticks += 1

    def add_lag(self, pool: str, lag: int | None) -> None:
        """The pool's lag as of this tick (and until told otherwise); None: it could not be
        read, and the trend shows a gap rather than the last lag read, as if fresh."""
        changes = self._lag.get(pool)
        if changes is None:
            changes = self._lag[pool] = deque(maxlen=TREND_POINTS)
        elif changes[-1][1] == lag:
            return
        if changes and changes[-1][0] == self.ticks:
            changes[-1] = (self.ticks, lag)
        else:
            changes.append((self.ticks, lag))

    def lag_series(self, pool: str) -> tuple[int | None, ...]:
        """The pool's lag at each of the last TREND_POINTS ticks (fewer if seen for fewer)."""
        changes = self._lag.get(pool)
        if not changes:
            return ()
        first = self.ticks - TREND_POINTS  # the ticks told so far: 0 .. self.ticks - 1
        series: list[int | None] = []
        entries = list(changes)
        for k, (tick, lag) in enumerate(entries):
            end = entries[k + 1][0] if k + 1 < len(entries) else self.ticks
            start = tick if tick > first else first
            if end > start:
                series.extend([lag] * (end - start))
        return tuple(series[-TREND_POINTS:])

    def add_tokens(self, tenant: str, now: float, tokens: int) -> None:
        samples = self._tokens.setdefault(tenant, deque())
        if samples and tokens < samples[-1][1]:
            samples.clear()  # a new day
        samples.append((now, tokens))
        while len(samples) > 2 and samples[0][0] < now - BURN_WINDOW_S:
            samples.popleft()

    def burn_per_min(self, tenant: str) -> float:
        samples = self._tokens.get(tenant)
        if not samples or len(samples) < 2:
            return 0.0
        (t0, n0), (t1, n1) = samples[0], samples[-1]
        return (n1 - n0) / (t1 - t0) * 60 if t1 > t0 else 0.0


def build_snapshot(
    config: Config,
    *,
    now: float,
    overrides: Overrides,
    observed: Observations,
    states: Mapping[str, PoolState],
    decisions: Mapping[str, ScaleDecision],
    trends: Trends,
    dry_run: bool,
    mode: str,
    problems: Mapping[str, str],
    leader: str | None = None,
    leaderless: bool = False,
    leader_decided: Collection[str] = (),
    leader_silent_s: float | None = None,
    queues: Mapping[str, QueueStats] = EMPTY,
) -> FleetSnapshot:
    """The fleet as the loop last saw it: each pool's reading, replicas and decision (the
    leader's, on a follower), each tenant's spend, and `mode`, `problems`, `leader` and
    `leaderless` for the header; `leader_decided`: the pools whose decision is a leader's,
    on a follower (the others' are this process's own, which no leader made). `queues`: the
    lag source's last readings, for how long each pool's oldest task waits."""
    pools = tuple(
        _pool_row(
            config,
            name,
            now=now,
            overrides=overrides,
            observed=observed.pools.get(name),
            state=states.get(name),
            decision=decisions.get(name),
            trends=trends,
            dry_run=dry_run,
            queue=queues.get(name),
        )
        for name in config.pools
    )
    tenants = _tenant_rows(config, pools, overrides, observed, trends)
    if not overrides.paused:
        pools = _with_budget_ends(config, pools, tenants, now)
    if leaderless:
        pools = tuple(_not_current(row, row.name in leader_decided) for row in pools)
    return FleetSnapshot(
        ts=now,
        pools=pools,
        tenants=tenants,
        pods=tuple(pod for state in states.values() for pod in state.pods),
        cluster_cap=config.cluster.max_pods,
        state=mode,
        problems=problems,
        leader=leader,
        leaderless=leaderless,
        leader_silent_s=leader_silent_s,
    )


def _with_budget_ends(
    config: Config, pools: tuple[PoolRow, ...], tenants: tuple[TenantRow, ...], now: float
) -> tuple[PoolRow, ...]:
    """A pool with nothing nearer to end by time (a pin, a pause, a hold) is told when its
    tenant's budget runs out at the burn of the last minutes, and what it does then."""
    runs_out = {tenant.name: tenant.runs_out_in() for tenant in tenants}
    return tuple(
        row
        if row.next_step or row.state == LEFT_ALONE  # another autoscaler's: not held to it
        else replace(
            row,
            next_step=budget_next(
                config.tenants[row.tenant],
                runs_out[row.tenant],
                row.replicas,
                now,
                floor=max(config.pools[row.name].min_replicas, row.pin or 0),
            ),
        )
        for row in pools
    )


NO_LEADER = "no leader"


def _not_current(row: PoolRow, leader_decided: bool) -> PoolRow:
    """A row while no controller leads: what it shows is what the last leader decided; or,
    where no leader's decision came (none has led since this process started), nothing a
    leader decided: this process's own decision was said as the last one seen, with a pin
    taken meanwhile that no leader ever saw."""
    last = f"the last decision seen: {row.state_detail}"
    if not leader_decided:
        last = "no leader's decision seen yet"
    return replace(
        row, state=NO_LEADER, state_detail=f"no controller leads, so nothing scales; {last}"
    )


def _pool_row(
    config: Config,
    name: str,
    *,
    now: float,
    overrides: Overrides,
    observed: PoolObservation | None,
    state: PoolState | None,
    decision: ScaleDecision | None,
    trends: Trends,
    dry_run: bool,
    queue: QueueStats | None,
) -> PoolRow:
    pin = overrides.pins.get(name)
    if pin is not None and not pin.active(now):
        pin = None
    label, detail = state_of(observed, decision, overrides, now, dry_run=dry_run)
    oldest_at = _oldest_at(queue)
    # A pool the cluster side cannot be read for (another autoscaler owns its Deployment, a
    # refusal) has no observation; its queue may still be read, and shows as it is, not 0
    # (its lag, and the rate its tasks come at).
    read = observed or (queue if queue is not None and queue.stale is None else None)
    return PoolRow(
        name=name,
        tenant=config.pools[name].tenant,
        tier=config.tier_of[name],
        pending=read.pending if read else 0,
        ack_pending=read.ack_pending if read else 0,
        arrival_rate=read.arrival_rate if read else None,
        replicas=state.replicas if state else 0,
        desired=decision.desired if decision else 0,
        ready=state.ready if state else 0,
        pin=pin.replicas if pin is not None else None,
        state=label,
        decision=decision,
        trend=trends.lag_series(name),
        state_detail=detail,
        pin_until=pin.until if pin is not None else None,
        next_step=what_next(decision, overrides, now),
        oldest_wait_s=None if oldest_at is None else max(0.0, now - oldest_at),
        target_wait_s=config.tiers[config.tier_of[name]].target_wait_seconds,
    )


def _oldest_at(stats: QueueStats | None) -> float | None:
    """When the pool's oldest waiting task came, from a fresh reading with tasks pending."""
    if stats is None or stats.stale is not None or not stats.pending:
        return None
    return stats.oldest_at


def _tenant_rows(
    config: Config,
    pools: tuple[PoolRow, ...],
    overrides: Overrides,
    observed: Observations,
    trends: Trends,
) -> tuple[TenantRow, ...]:
    used: dict[str, int] = {}
    moving: dict[str, bool] = {}  # a pool not held at 0 by its budget
    for row in pools:
        used[row.tenant] = used.get(row.tenant, 0) + row.replicas
        at_zero = row.replicas == 0 and row.desired == 0 and row.state.startswith("budget")
        moving[row.tenant] = moving.get(row.tenant, False) or not at_zero
    return tuple(
        TenantRow(
            name=name,
            tier=tenant.tier,
            tokens_today=observed.tokens_today.get(name, 0),
            budget=tenant.daily_token_budget,
            warn_at=tenant.warn_at,
            hard_cap=tenant.hard_cap,
            burn_per_min=trends.burn_per_min(name),
            pods=used.get(name, 0),
            max_pods=tenant.max_pods,
            paused=name in overrides.paused_tenants,
            held=moving.get(name) is False,
        )
        for name, tenant in config.tenants.items()
    )
