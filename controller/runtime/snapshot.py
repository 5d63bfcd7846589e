"""A picture of the whole fleet at one moment, for anything that shows it (the dashboard, an
observer attached to another process's controller). Plain values, no UI."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.core.model import Pod, ScaleDecision

TREND_POINTS = 60
"""Lag samples kept per pool for the sparkline (one a tick: a minute at 1 s)."""
BURN_WINDOW_S = 300.0


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
    up, scaling down, starved, held, paused, pinned, stale, budget, dry-run, unknown; e.g.
    "held 42s", "pinned 4m" (controller.core.pool_state)."""
    decision: ScaleDecision | None
    trend: tuple[int, ...] = ()
    state_detail: str = ""
    """One sentence: why the pool is in this state (which rule, ceiling or pause, how long)."""
    pin_until: float | None = None
    """When the active pin expires (epoch seconds); None: no pin, or until unpinned."""

    @property
    def lag(self) -> int:
        return self.pending + self.ack_pending


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

    def runs_out_in(self) -> float | None:
        """Seconds until the budget is spent at the current burn rate; None if never."""
        if self.budget is None or self.burn_per_min <= 0:
            return None
        return max(0.0, (self.budget - self.tokens_today) / self.burn_per_min * 60)


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    ts: float
    pools: tuple[PoolRow, ...]
    tenants: tuple[TenantRow, ...]
    pods: tuple[Pod, ...]
    cluster_cap: int
    state: str
    """running, paused, dry-run"""
    problems: Mapping[str, str] = field(default_factory=dict)

    @property
    def pods_used(self) -> int:
        return sum(p.replicas for p in self.pools)

    @property
    def tokens_today(self) -> int:
        return sum(t.tokens_today for t in self.tenants)


class Trends:
    """Recent lag per pool and token burn per tenant, fed once a tick."""

    def __init__(self) -> None:
        self.lag: dict[str, deque[int]] = {}
        self._tokens: dict[str, deque[tuple[float, int]]] = {}

    def add_lag(self, pool: str, lag: int) -> None:
        self.lag.setdefault(pool, deque(maxlen=TREND_POINTS)).append(lag)

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
