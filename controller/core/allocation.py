"""Shared ceilings: share the cluster's pods, each tenant's pods and each provider's rpm
between pools, weighted by tier priority.

Order of service:
1. pools whose replicas must be held (stale or unobserved data) keep what they have;
2. every pool keeps its replicas at work: a running task is never cut short for another pool
   (it would be redelivered and start again); its pod is shared anew when the task ends;
3. every pool's floor (min_replicas or pin), tier by tier, highest priority first;
4. then every tier at once, shared by weight (each tier counts twice the tier below it), once
   each tier with demand has its first replica (controller.core.room):
   - each pool keeps what it has and still needs, so pods are not traded between pools as
     demands wobble;
   - demand grows from free room, water-filled by weight, up to each pool's share;
   - demand that has lasted (Claim.steady, controller.core.history.SUSTAINED_S) takes held
     room: other pools' idle pods and the replicas their time rules alone keep;
   - demand beyond the shares grows from the free room left;
   - then the replicas the time rules alone keep (a window, the learned keep-alive, a rate
     policy, the cooldown), with what room is left; lasting demand beyond a share takes
     those of a lower tier, and of its own tier once it has lasted a cold start more
     (Claim.peer_steady); never a higher tier's (as under PriorityClass).
Hysteresis: a blip of lag moves no pod (only lasting demand takes what other pools have), and
a pool keeps what it has while it needs it, so pods do not flap between pools.

Why weights and not strict priority: under a ceiling near the fleet's mean need, strict
priority starves the lower tiers for as long as the higher ones have work, and their queues
grow for hours. By weight, a higher tier still gets more of a short ceiling, and no tier gets
nothing. Within the shares the room is water-filled: every pool rises in step with its weight,
and when a ceiling cannot give every pool one more replica, the next one goes to the pool
lowest in replicas per weight, then to one that has it running already (else two pools short
of one replica trade it every tick, and neither pod ever finishes starting), then to the
larger unmet demand, then by pool name.

Most ticks nothing is short and every claim is granted in one linear pass; water-filling runs
only over the claims under a short ceiling, one independent group at a time.
"""

from __future__ import annotations

import math

from controller.core.config import Config, PoolConfig
from controller.core.layout import Layout, layout
from controller.core.model import Reason, ScaleDecision
from controller.core.record import Record
from controller.core.room import Room
from controller.core.shortfall import explain_shortfall, explain_yield


class Claim(Record):
    """A pool's bid for replicas, before and after the shared ceilings."""

    FIELDS = (
        "name",
        "pool",
        "current",
        "floor",
        "want",
        "recommendation",
        "reasons",
        "held",
        "observed",
        "granted",
        "goal",
        "busy",
        "steady",
        "peer_steady",
        "kept",
        "until",
    )
    __slots__ = FIELDS

    name: str
    pool: PoolConfig
    current: int
    floor: int
    want: int
    recommendation: int
    reasons: list[Reason]
    held: bool
    observed: bool
    granted: int
    goal: int
    busy: int
    """Replicas at work (tasks in flight), at most `current`: under a short shared ceiling
    they are not taken from the pool, so no running task is cut short for another pool."""
    steady: int | None
    """The part of `want` that has lasted a while (controller.core.history.SUSTAINED_S); None: all
    of it. Only that part takes replicas that time rules keep in other pools."""
    peer_steady: int | None
    """The part of `want` that has lasted a cold start more (history.peer_sustained); None:
    all of it. Only that part takes replicas that time rules keep in pools of its own tier."""
    kept: int
    """Replicas kept only by a time rule (a stabilization window, the learned keep-alive, a
    rate policy, the cooldown) above `want`: never more than `current`. Under a short shared
    ceiling they yield to the real demand of the pool's tier and higher ones (`allocate`)."""
    until: float
    """When the claim may change by time alone: a pin expires, a cooldown ends, an entry
    that bound a stabilization window or rate limit leaves it (controller.core.policy)."""

    def __init__(
        self,
        *,
        name: str,
        pool: PoolConfig,
        current: int,
        floor: int,
        want: int,
        recommendation: int,
        reasons: list[Reason],
        held: bool = False,
        observed: bool = True,
        granted: int = 0,
        goal: int = 0,
        busy: int = 0,
        steady: int | None = None,
        peer_steady: int | None = None,
        kept: int = 0,
        until: float = math.inf,
    ) -> None:
        self.name = name
        self.pool = pool
        self.current = current
        self.floor = floor
        self.want = want
        self.recommendation = recommendation
        self.reasons = reasons
        self.held = held
        self.observed = observed
        self.granted = granted
        self.goal = goal
        self.busy = busy
        self.steady = steady
        self.peer_steady = peer_steady
        self.kept = kept
        self.until = until

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
    def holding(self) -> int:
        """Replicas the pool has that only its time rules keep (beyond `has`)."""
        kept = self.current if self.current < self.alone else self.alone
        return kept - self.has if kept > self.has else 0

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
            peer_steady=self.peer_steady,
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
    ranked = [claim for tier_claims in grouped for claim in tier_claims]
    # Replicas at work stay, whatever the tier: preempting one cuts its task short (it is
    # redelivered after the grace period and starts again).
    working = []
    for claim in ranked:
        most = claim.alone
        keep = claim.busy if claim.busy < most else most
        if keep > 0:
            claim.goal = keep
            working.append(claim)
    if working:
        run.fill(working)
    for tier_claims in grouped:  # floors are operators' promises: strictly by tier
        for claim in tier_claims:
            claim.goal = claim.floor
        run.fill(tier_claims)
    _share(run, ranked, grouped, tier_of)


def _share(
    run: Room, claims: list[Claim], grouped: list[list[Claim]], tier_of: dict[str, str]
) -> None:
    """Step 4: what is left, shared by weight between every tier's demand (`claims`, the
    tiers of `grouped` in order), then holds."""
    shares = _fair_shares(run, claims)
    # Each pool keeps what it has and still wants, up to its share: pods are not traded
    # between pools as demands wobble (each trade is a task cut short and a cold start), but
    # a pool above its share lends its idle pods to lasting demand below its share.
    for claim, share in zip(claims, shares, strict=True):
        keep = claim.has if claim.has < share else share
        if keep > claim.granted:
            run.grant(claim, keep - claim.granted)
    # What pools have beyond that is taken only by demand that has lasted (Claim.steady), so
    # a blip of lag grows from free room only and moves no pod. Set it aside: the idle pods
    # above a share, and per tier the replicas its time rules alone keep.
    above = run.set_aside([(c, c.has - c.granted) for c in claims])
    holds = [run.set_aside([(c, c.holding) for c in tier_claims]) for tier_claims in grouped]
    # Growth up to each pool's share first: a pool held back by one ceiling would see a
    # lower tier grow into its share of another.
    for claim, share in zip(claims, shares, strict=True):
        claim.goal = claim.want if claim.want < share else share
    run.fill(claims)
    steady = [claim.want if claim.steady is None else claim.steady for claim in claims]
    lasting = [claim for claim, part in zip(claims, steady, strict=True) if part > claim.granted]
    if lasting:
        for claim, part in zip(claims, steady, strict=True):
            claim.goal = part
        _lend(run, above, lasting)
    for claim in claims:  # growth beyond the shares, from free room
        claim.goal = claim.want
    run.fill(claims)
    for claim in claims:  # what no lasting demand took goes back to its pool
        claim.goal = claim.has
    run.unreserve(above, claims)
    run.fill(claims)
    if lasting:
        for claim, part in zip(claims, steady, strict=True):
            claim.goal = part if part > claim.granted else claim.granted
        _take_holds(run, holds, grouped)
    reserve = [sum(parts) for parts in zip(above, *holds, strict=True)]
    for claim in claims:
        if claim.granted < claim.floor or claim.granted < claim.want:
            explain_shortfall(claim, run, tier_of[claim.name], reserve)
    # What the time rules alone keep, with the room that real demand left.
    for k, tier_claims in enumerate(grouped):
        holding = [c for c in tier_claims if c.kept > c.granted]
        if holding:
            for claim in holding:
                claim.goal = claim.kept
            run.unreserve(holds[k], holding)
            run.fill(holding)
            for claim in holding:
                if claim.granted < claim.kept:
                    explain_yield(claim, run)


def _lend(run: Room, reserve: list[float], claims: list[Claim]) -> None:
    """Fill `claims` from what `reserve` set aside (and free room); set the rest aside again."""
    if any(reserve):
        before = list(reserve)
        run.release(reserve)
        run.fill(claims)
        reserve[:] = run.reserve_again(before)


def _take_holds(run: Room, holds: list[list[float]], grouped: list[list[Claim]]) -> None:
    """Each tier's lasting demand (its claims' goals), highest tier first, takes the replicas
    that time rules alone keep in lower tiers, the lowest tier's first, then in its own tier
    only what has lasted a cold start more (Claim.peer_steady: a pod moved between pools of
    one weight serves nothing meanwhile); never a higher tier's (as under PriorityClass, a
    lower priority never preempts a higher one)."""
    for k, tier_claims in enumerate(grouped):
        for lower in reversed(range(k, len(grouped))):
            if lower == k:
                for claim in tier_claims:
                    peer = claim.want if claim.peer_steady is None else claim.peer_steady
                    if peer < claim.goal:
                        claim.goal = peer if peer > claim.granted else claim.granted
            short = [c for c in tier_claims if c.granted < c.goal]
            if not short:
                break
            _lend(run, holds[lower], short)


def _fair_shares(run: Room, claims: list[Claim]) -> list[int]:
    """What each claim would get of the room left if every pool's demand were water-filled
    by weight from what it has been granted so far, as if no pool had any other pod."""
    scratch = Room(run.shape)
    scratch.room = list(run.room)
    scratch.tier_units = [list(tiers) for tiers in run.tier_units]
    granted = [claim.granted for claim in claims]
    for claim in claims:
        claim.goal = claim.want
    scratch.fill(claims)
    shares = [claim.granted for claim in claims]
    for claim, before in zip(claims, granted, strict=True):
        claim.granted = before
    return shares


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
