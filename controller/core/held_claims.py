"""The claims of pools that bid for nothing of their own now (controller.core.policy.claim):
paused (the pool, its tenant, or the whole controller), read stale (held, or up to the
fallback), or not read at all. Missing data never scales a pool down.
"""

from __future__ import annotations

import math
from typing import Final

from controller.core.allocation import Claim
from controller.core.config import PoolConfig
from controller.core.model import (
    Overrides,
    PoolObservation,
    PoolPause,
    Reason,
    ScaleDecision,
    utc,
)


def held_back(
    name: str, pool: PoolConfig, obs: PoolObservation, overrides: Overrides, now: float
) -> Claim | None:
    """The claim of an observed pool that bids for nothing of its own now: paused (itself or
    its tenant: a tenant's pause wins over its pools'), or read stale. None: it bids."""
    pause = overrides.paused_pools.get(name)
    if pause is not None and pause.active(now) and pool.tenant not in overrides.paused_tenants:
        return _pool_paused(name, pool, obs.replicas, pause)
    if obs.stale is not None:
        return _stale(name, pool, obs)
    if pool.tenant in overrides.paused_tenants:
        return _tenant_paused(name, pool, obs)
    return None


def controller_paused(decision: ScaleDecision) -> ScaleDecision:
    """The whole controller paused: the pool stays as it is (the loop calls nothing), and
    its reasons end with the pause and what it would have done otherwise."""
    if not decision.observed:
        return decision
    if decision.held or decision.desired == decision.current:
        told = Reason(rule=CONTROLLER_PAUSED, template=_CONTROLLER_HOLDS, args=(decision.current,))
    else:
        args = (decision.current, decision.current, decision.desired)
        told = Reason(rule=CONTROLLER_PAUSED, template=_CONTROLLER_WOULD, args=args)
    return decision.held_at_current(told)


def unobserved(name: str, pool: PoolConfig, why: str | None, replicas: int | None) -> Claim:
    """A pool the sources could not read: not observed, so nothing acts on it (missing data
    never scales a pool down), with why where the source said. With `replicas` (its
    Deployment is read, but agentdash does not scale it: another autoscaler does, or its
    scale was refused), it keeps them: no fallback, pin or pause moves it, and they count
    against the shared ceilings as any held pool's do."""
    if replicas is not None and why:
        reason = Reason(rule=NOT_SCALED, template=_NOT_SCALED, args=(why, replicas))
        return Claim.hold(name, pool, replicas, True, reason)
    reason = (
        Reason(rule="no observation", template=_NO_DATA_BECAUSE, args=(why,))
        if why
        else _NO_DATA_REASON
    )
    return Claim.hold(name, pool, 0, False, reason)


def _tenant_paused(name: str, pool: PoolConfig, obs: PoolObservation) -> Claim:
    """A paused tenant's pool goes to zero; its tasks wait in the queue, none is lost."""
    lag = obs.pending + obs.ack_pending
    return Claim(
        name=name,
        pool=pool,
        current=obs.replicas,
        floor=0,
        want=0,
        recommendation=0,
        reasons=[Reason(rule=TENANT_PAUSED, template=_PAUSED, args=(pool.tenant, lag))],
    )


def _stale(name: str, pool: PoolConfig, obs: PoolObservation) -> Claim:
    """A pool whose reading is stale holds its replicas; after the fallback's threshold of
    failed reads it rises to the fallback's replicas (KEDA's fallback, but only ever up:
    missing data never scales a pool down)."""
    current, fallback = obs.replicas, pool.fallback
    if (
        fallback is None
        or obs.stale_reads < fallback.failure_threshold
        or fallback.replicas <= current
    ):
        reason = Reason(rule="stale", template="{}: holding {} replicas", args=(obs.stale, current))
        return Claim.hold(name, pool, current, True, reason)
    told = (obs.stale, obs.stale_reads, fallback.replicas, current, fallback.replicas)
    replicas = fallback.replicas
    return Claim(
        name=name,
        pool=pool,
        current=current,
        floor=replicas,
        want=replicas,
        recommendation=replicas,
        reasons=[Reason(rule="fallback", template=_FALLBACK, args=told)],
    )


def left_alone(decision: ScaleDecision) -> bool:
    """Whether the decision is to leave the pool to whoever scales it (another autoscaler,
    or a refused scale): agentdash scales nothing there, whatever its queue does."""
    return decision.main_reason.rule == NOT_SCALED


def _pool_paused(name: str, pool: PoolConfig, current: int, pause: PoolPause) -> Claim:
    """A paused pool (KEDA's paused-replicas): where it is, or the operator's number; no
    demand, time rule or budget moves it (the shared ceilings still bound a rise, and the
    pool's max_replicas a number set: the bucket's document may say up to MAX_PIN_REPLICAS,
    and a pause at 100,000 would otherwise take a pool of max_replicas 6 to its tenant's whole
    max_pods)."""
    who = f" by {pause.by}" if pause.by else ""
    expiry = f" until {utc(pause.until)}" if pause.until is not None else ""
    until = pause.until if pause.until is not None else math.inf
    if pause.replicas is None or pause.replicas == current:
        reason = Reason(rule=POOL_PAUSED, template=_POOL_HOLDS, args=(who, expiry, current))
        claim = Claim.hold(name, pool, current, True, reason)
        claim.until = until
        return claim
    target = min(pause.replicas, pool.max_replicas)
    reasons = [
        Reason(
            rule=POOL_PAUSED, template=_POOL_AT, args=(who, expiry, pause.replicas, current, target)
        )
    ]
    if target < pause.replicas:
        args = (pool.max_replicas, pause.replicas, target)
        reasons.append(Reason(rule="max_replicas", template="max_replicas {}: {} -> {}", args=args))
    return Claim(
        name=name,
        pool=pool,
        current=current,
        floor=target,
        want=target,
        recommendation=target,
        reasons=reasons,
        until=until,
    )


_NO_DATA = "no data for this pool: left unchanged (missing data never scales down)"
_NO_DATA_REASON = Reason(rule="no observation", template=_NO_DATA)
_NO_DATA_BECAUSE = "{}: left unchanged (missing data never scales down)"
NOT_SCALED: Final = "not scaled"
_NOT_SCALED = "{}: left at the {} replicas read"
_FALLBACK = "{} ({} reads in a row): fallback {} replicas, {} -> {}"
_PAUSED = "tenant {} paused by an operator: 0 replicas, lag {} stays queued"
TENANT_PAUSED: Final = "paused"
POOL_PAUSED: Final = "pool paused"
_POOL_HOLDS = "paused{}{}: holding {} replicas"
_POOL_AT = "paused{}{}: set to {}, {} -> {}"
CONTROLLER_PAUSED: Final = "controller paused"
_CONTROLLER_HOLDS = "paused by an operator: holding {} replicas"
_CONTROLLER_WOULD = "paused by an operator: holding {} replicas (would scale {} -> {})"
