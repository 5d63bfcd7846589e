"""Shared ceilings: share the cluster's pods, each tenant's pods and each provider's rpm
between pools, by tier priority.

Order of service:
1. pools whose replicas must be held (stale or unobserved data) keep what they have;
2. every pool keeps its replicas at work: a running task is never cut short for another pool
   (it would be redelivered and start again); its pod goes to whoever needs it most when the
   task ends;
3. every pool's floor (min_replicas or pin), tier by tier, highest priority first;
4. tier by tier, highest first:
   - each pool keeps what it has and still needs, so pods are not traded inside a tier as
     demands wobble, even in a tier a higher one starves;
   - demand grows from free room, water-filled;
   - demand that has lasted (Claim.steady, controller.core.history.SUSTAINED_S) takes held
     room: lower tiers' idle pods, their holds, this tier's own holds;
   - then the replicas the tier's time rules alone keep (a window, the learned keep-alive, a
     rate policy, the cooldown): they yield to this tier's real demand or a higher one's,
     never to a lower tier's, as under PriorityClass a lower priority never preempts a higher.
     Holds never exceed a pool's current replicas, so a hold that yielded does not come
     back as growth.
Hysteresis: a blip of lag moves no pod (only lasting demand takes what other pools have), and
what a higher tier took stays while its own rules keep it, so pods do not flap between tiers.

Inside one tier the remaining room is split by max-min fairness (water-filling): all pools
rise level by level, and when a ceiling cannot give every pool one more replica, the leftover
units go to the larger unmet demand, then by pool name.
Once a shared ceiling leaves a tier short, lower tiers get nothing more from it than their
floors (strict priority).

Most ticks nothing is short and every claim is granted in one linear pass; water-filling runs
only over the claims under a short ceiling, one independent group at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.core.config import Config, PoolConfig
from controller.core.model import Reason, ScaleDecision
from controller.core.room import EPS, Room
from controller.core.shortfall import explain_shortfall, explain_yield


@dataclass(frozen=True, slots=True)
class _Ceiling:
    rule: str
    label: str
    capacity: float
    unit: str = "pods"


@dataclass(frozen=True, slots=True)
class Layout:
    """What does not change between ticks: the ceilings, who draws on which, tier order."""

    ceilings: tuple[_Ceiling, ...]
    costs: dict[str, tuple[tuple[int, float], ...]]
    """Per pool: (ceiling index, cost of one replica there)."""
    drawn: dict[str, frozenset[int]]
    """Per pool: the ceilings it draws on (the indices of `costs`)."""
    tiers: tuple[tuple[str, tuple[str, ...]], ...]
    """(tier, its pools in config order), highest priority first."""
    limits: tuple[float, ...]
    """Per ceiling, what a sum of replicas x cost may reach and still surely fit: sums of
    whole numbers are exact, others may drift, so they keep a margin."""


def _build_layout(config: Config) -> Layout:
    ceilings = [
        _Ceiling(
            "cluster max_pods",
            f"cluster max_pods {config.cluster.max_pods}",
            config.cluster.max_pods,
        )
    ]
    index: dict[tuple[str, str], int] = {}

    def ceiling(key: tuple[str, str], make: _Ceiling) -> int:
        if key not in index:
            index[key] = len(ceilings)
            ceilings.append(make)
        return index[key]

    costs: dict[str, tuple[tuple[int, float], ...]] = {}
    for name, pool in config.pools.items():
        drawn = [(0, 1.0)]
        cap = config.tenants[pool.tenant].max_pods
        if cap is not None:
            label = f"tenant {pool.tenant} max_pods {cap}"
            drawn.append(
                (ceiling(("tenant", pool.tenant), _Ceiling("tenant max_pods", label, cap)), 1.0)
            )
        if pool.provider is not None and pool.rpm_per_replica > 0:
            rpm = config.providers[pool.provider].rpm
            headroom = config.providers[pool.provider].headroom
            allowed = rpm * headroom
            label = f"provider {pool.provider} rpm {rpm}" + (
                f" (x{headroom:g} headroom: {allowed:g})" if headroom != 1 else ""
            )
            made = _Ceiling("provider rpm", label, allowed, "rpm")
            drawn.append((ceiling(("provider", pool.provider), made), pool.rpm_per_replica))
        costs[name] = tuple(drawn)
    order = sorted(config.tiers, key=lambda t: (-config.tiers[t].priority, t))
    tiers = tuple(
        (tier, tuple(p for p in config.pools if config.tier_of[p] == tier)) for tier in order
    )
    limits = []
    for i, made in enumerate(ceilings):
        exact = all(
            float(cost).is_integer() for drawn in costs.values() for j, cost in drawn if j == i
        )
        slack = EPS if exact else -1e-6 * max(1.0, made.capacity)
        limits.append(made.capacity + slack)
    drawing = {name: frozenset(i for i, _ in made) for name, made in costs.items()}
    return Layout(tuple(ceilings), costs, drawing, tiers, tuple(limits))


_layouts: dict[int, tuple[Config, Layout]] = {}


def layout(config: Config) -> Layout:
    """The config's layout, built once per config (the live loop keeps one for hours)."""
    cached = _layouts.get(id(config))
    if cached is None or cached[0] is not config:
        if len(_layouts) > 16:
            _layouts.clear()
        cached = _layouts[id(config)] = (config, _build_layout(config))
    return cached[1]


@dataclass(slots=True)
class Claim:
    """A pool's bid for replicas, before and after the shared ceilings."""

    name: str
    pool: PoolConfig
    current: int
    floor: int
    want: int
    recommendation: int
    reasons: list[Reason]
    held: bool = False
    observed: bool = True
    granted: int = 0
    goal: int = 0
    busy: int = 0
    """Replicas at work (tasks in flight), at most `current`: under a short shared ceiling
    they are not taken from the pool, so no running task is cut short for another pool."""
    steady: int | None = None
    """The part of `want` that has lasted a while (controller.core.history.SUSTAINED_S); None: all
    of it. Only that part takes replicas that time rules keep in other pools."""
    kept: int = 0
    """Replicas kept only by a time rule (a stabilization window, the learned keep-alive, a
    rate policy, the cooldown) above `want`: never more than `current`. Under a short shared
    ceiling they yield to the real demand of the pool's tier and higher ones (`allocate`)."""
    until: float = math.inf
    """When the claim may change by time alone: a pin expires, a cooldown ends, an entry
    that bound a stabilization window or rate limit leaves it (controller.core.policy)."""

    @classmethod
    def hold(
        cls, name: str, pool: PoolConfig, current: int, observed: bool, reason: Reason
    ) -> Claim:
        return cls(
            name=name,
            pool=pool,
            current=current,
            floor=current,
            want=current,
            recommendation=current,
            reasons=[reason],
            held=True,
            observed=observed,
        )

    @property
    def has(self) -> int:
        """What the pool has and still wants: its current replicas, at most `want`."""
        return self.current if self.current < self.want else self.want

    @property
    def alone(self) -> int:
        """What `allocate` grants this claim when no shared ceiling is short."""
        if self.held:
            return self.current
        most = self.floor if self.floor > self.want else self.want
        return most if most > self.kept else self.kept

    def copy(self) -> Claim:
        """The claim as `claim()` made it, for another `allocate` (which writes into it)."""
        return Claim(
            name=self.name,
            pool=self.pool,
            current=self.current,
            floor=self.floor,
            want=self.want,
            recommendation=self.recommendation,
            reasons=list(self.reasons),
            held=self.held,
            observed=self.observed,
            busy=self.busy,
            steady=self.steady,
            kept=self.kept,
            until=self.until,
        )

    def decision(self, granted: int | None = None) -> ScaleDecision:
        return ScaleDecision(
            pool=self.name,
            tenant=self.pool.tenant,
            current=self.current,
            desired=self.granted if granted is None else granted,
            reasons=tuple(self.reasons),
            recommendation=self.recommendation,
            held=self.held,
            observed=self.observed,
            until=self.until,
        )


class Demand:
    """Per shared ceiling, the sum of what every claim would take alone (`Claim.alone`).

    For a caller that re-claims only some pools between passes: while every sum fits its
    ceiling, `allocate` would grant each claim exactly `alone` and add no reason, so the
    pools that did not change keep their decisions. When a sum does not fit, run `allocate`.
    """

    def __init__(self, config: Config) -> None:
        self.shape = layout(config)
        self.total = [0.0] * len(self.shape.ceilings)
        self.units: dict[str, int] = {}
        self.over = 0
        """How many ceilings the sums exceed."""
        self.limit = list(self.shape.limits)

    def set(self, claim: Claim) -> int:
        """Count `claim` in place of the pool's previous one; what it would get alone."""
        units = claim.alone
        delta = units - self.units.get(claim.name, 0)
        if delta:
            self.units[claim.name] = units
            total, limit = self.total, self.limit
            for i, cost in self.shape.costs[claim.name]:
                was = total[i] > limit[i]
                total[i] += delta * cost
                self.over += (total[i] > limit[i]) - was
        return units

    def fits(self) -> bool:
        return self.over == 0

    def short(self) -> list[int]:
        """The ceilings the sums exceed (indices into `shape.ceilings`)."""
        total, limit = self.total, self.limit
        return [i for i in range(len(total)) if total[i] > limit[i]]


def allocate(config: Config, claims: list[Claim]) -> None:
    """Set `granted` on every claim, and add a reason wherever a shared ceiling bound."""
    if not _fit_alone(layout(config), claims):
        allocate_short(config, claims)


def allocate_short(config: Config, claims: list[Claim]) -> None:
    """`allocate`, for a caller that knows the claims do not all fit alone (every pool that
    draws on a short ceiling is among them: controller.core.engine)."""
    shape = layout(config)
    run = Room(shape)
    for claim in claims:
        if claim.held:
            run.grant(claim, claim.current)
    # Tier by tier, each in the order given (config order): the claims may be only the pools
    # that draw on a short ceiling (controller.core.engine), not the whole fleet.
    rank = {tier: k for k, (tier, _) in enumerate(shape.tiers)}
    tier_of = config.tier_of
    grouped: list[list[Claim]] = [[] for _ in shape.tiers]
    for claim in claims:
        if not claim.held:
            grouped[rank[tier_of[claim.name]]].append(claim)
    tiers = [(tier, grouped[k]) for k, (tier, _) in enumerate(shape.tiers)]
    # Replicas at work stay, whatever the tier: preempting one cuts its task short (it is
    # redelivered after the grace period and starts again).
    working = []
    for _, tier_claims in tiers:
        for claim in tier_claims:
            most = claim.alone
            keep = claim.busy if claim.busy < most else most
            if keep > 0:
                claim.goal = keep
                working.append(claim)
    if working:
        run.fill(working)
    for _, tier_claims in tiers:
        for claim in tier_claims:
            claim.goal = claim.floor
        run.fill(tier_claims)
    # What pools have is taken only by demand that has lasted (Claim.steady): set aside, for
    # every pool, the replicas it has and would keep alone (its demand, its holds) beyond what
    # it was granted. A blip of lag then grows from free room only, and moves no pod.
    reserve = run.reserve([c for c in claims if not c.held])
    closed: set[int] = set()
    for tier, tier_claims in tiers:
        # Each pool of the tier keeps what it has and still wants (what is left of it: a
        # higher tier's lasting demand may have taken some); pods are not traded inside a
        # tier as demands wobble (each trade is a task cut short and a cold start).
        keeping = [c for c in tier_claims if c.has > c.granted]
        if keeping:
            for claim in keeping:
                claim.goal = claim.has
            run.unreserve(reserve, keeping)
            run.fill(keeping)
        open_claims = _open(tier_claims, closed, shape)
        for claim in open_claims:
            claim.goal = claim.want
        run.fill(open_claims)  # growth, from free room
        lasting = []
        for claim in open_claims:
            steady = claim.want if claim.steady is None else claim.steady
            if steady > claim.granted:
                claim.goal = steady
                lasting.append(claim)
        if lasting and any(reserve):  # held room: lower tiers' idle pods, this tier's holds
            held = list(reserve)
            run.release(reserve)
            run.fill(lasting)
            reserve = run.reserve_again(held)
        short = [c for c in tier_claims if c.granted < c.floor or c.granted < c.want]
        for claim in short:  # explained now: lower tiers have not taken their share yet
            explain_shortfall(claim, run, closed, tier, reserve)
        _close(short, run, closed)
        # What the tier's time rules keep, before any lower tier's demand.
        holding = [c for c in tier_claims if c.kept > c.granted]
        if holding:
            for claim in holding:
                claim.goal = claim.kept
            run.unreserve(reserve, holding)
            run.fill(holding)
            for claim in holding:
                if claim.granted < claim.kept:
                    explain_yield(claim, run, closed)


def _fit_alone(shape: Layout, claims: list[Claim]) -> bool:
    """The usual tick: when every claim alone fits every ceiling, grant each what it asks
    (what the passes below would grant, without them) and say so."""
    total = [0.0] * len(shape.limits)
    costs = shape.costs
    for claim in claims:
        units = claim.alone
        if units:
            for i, cost in costs[claim.name]:
                total[i] += units * cost
    for sum_, limit in zip(total, shape.limits, strict=True):
        if sum_ > limit:
            return False
    for claim in claims:
        claim.granted = claim.alone
    return True


def _open(tier_claims: list[Claim], closed: set[int], shape: Layout) -> list[Claim]:
    """The claims of a tier that draw on no ceiling a higher tier was short of."""
    if not closed:
        return tier_claims
    drawn = shape.drawn
    return [c for c in tier_claims if closed.isdisjoint(drawn[c.name])]


def _close(short: list[Claim], run: Room, closed: set[int]) -> None:
    """Strict priority: a shared ceiling that left a tier short gives lower tiers nothing
    more, even where a cheaper replica would still fit."""
    costs, room = run.shape.costs, run.room
    for claim in short:
        closed.update(i for i, cost in costs[claim.name] if room[i] + EPS < cost)
