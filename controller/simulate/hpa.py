"""The Horizontal Pod Autoscaler's replica algorithm, for an external metric with an
AverageValue target (how KEDA's scalers and a prometheus-adapter lag metric drive it).

Follows Kubernetes' pkg/controller/podautoscaler (horizontal.go, replica_calculator.go) with
the documented `behavior` defaults:

- proposal: usage / (target x status replicas) within 1 +- tolerance (0.1) keeps the count,
  otherwise ceil(usage / target); values are compared in milli-units as the HPA does;
- stabilization: the current count is brought within [lowest recommendation of the up window
  (0 s), highest of the down window (300 s)], both including this sync's proposal;
- rate: up by at most max(4 pods, 100%) per 15 s, down by at most 100% per 15 s, counted from
  the replicas at the start of each period (recent steps both ways taken into account);
- bounds: min/max replicas; a target at 0 replicas with min > 0 is left alone (disabled).

An HPA whose spec has no `behavior` at all (`behavior=False`; KEDA's, unless its ScaledObject
sets one) goes through the controller's older rules instead, in every release: each sync it
scales to the highest proposal of the scale-down window (`down.stabilization_seconds`, the
`--horizontal-pod-autoscaler-downscale-stabilization` flag), this one's included, up by at
most max(2 x current, 4) replicas, down at any rate.

`kubernetes_1_20`: the rules of Kubernetes 1.20's controller (the one `make kube` builds, the
referee of benchmarks/hpa_fidelity.py), which later releases changed: only the window of the
direction the proposal points to stabilizes it (up if proposal >= current, else down), and a
rate period's start counts only the changes in that same direction.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HpaPolicy:
    kind: str
    """"Pods" or "Percent"."""
    value: int
    period_seconds: float


@dataclass(frozen=True, slots=True)
class ScalingRules:
    stabilization_seconds: float
    policies: tuple[HpaPolicy, ...]
    select: str = "Max"
    """"Max" (the largest change any policy allows), "Min" or "Disabled"."""


DEFAULT_UP = ScalingRules(0.0, (HpaPolicy("Pods", 4, 15.0), HpaPolicy("Percent", 100, 15.0)))
DEFAULT_DOWN = ScalingRules(300.0, (HpaPolicy("Percent", 100, 15.0),))


@dataclass(frozen=True, slots=True)
class HpaSpec:
    min_replicas: int
    max_replicas: int
    target: float
    """AverageValue target: metric units per pod (KEDA's lagThreshold)."""
    tolerance: float = 0.1
    up: ScalingRules = DEFAULT_UP
    down: ScalingRules = DEFAULT_DOWN
    behavior: bool = True
    """False: the HPA's spec has no `behavior` (see the module): `up` is not used, and
    `down.stabilization_seconds` is the controller's downscale stabilization flag."""
    kubernetes_1_20: bool = False
    """Kubernetes 1.20's rules for stabilization and rate periods (see the module)."""


@dataclass(slots=True)
class HpaState:
    """What the HPA controller remembers per target, between syncs."""

    recommendations: deque[tuple[float, int]] = field(default_factory=deque)
    ups: deque[tuple[float, int]] = field(default_factory=deque)
    downs: deque[tuple[float, int]] = field(default_factory=deque)


def proposal(status_replicas: int, usage: float, target: float, tolerance: float) -> int:
    """GetExternalPerPodMetricReplicas: the count the metric alone asks for."""
    usage_m, target_m = round(usage * 1000), round(target * 1000)
    # A target under half a thousandth is 0 in the metric's milli-units, and the HPA would
    # divide by it: such a target is read as the smallest one the units can hold.
    target_m = target_m if target_m > 0 else 1
    if status_replicas == 0:
        # Go divides by zero here: +Inf rescales, NaN (no usage) keeps the count (0).
        return -(-usage_m // target_m) if usage_m > 0 else 0
    ratio = usage_m / (target_m * status_replicas)
    if abs(1.0 - ratio) > tolerance:
        return -(-usage_m // target_m)
    return status_replicas


def reconcile(
    spec: HpaSpec, state: HpaState, now: float, replicas: int, status_replicas: int, usage: float
) -> int:
    """One sync: the replicas the HPA sets (== `replicas` when it leaves them alone)."""
    if not state.recommendations:
        state.recommendations.append((now, replicas))
    if replicas == 0 and spec.min_replicas != 0:
        return 0  # "scaling is disabled since the replica count of the target is zero"
    if replicas > spec.max_replicas:
        desired = spec.max_replicas
    elif replicas < spec.min_replicas:
        desired = spec.min_replicas
    else:
        wanted = max(0, proposal(status_replicas, usage, spec.target, spec.tolerance))
        if not spec.behavior:
            return _without_behavior(spec, state, now, replicas, wanted)
        stabilized = _stabilize(spec, state, now, replicas, wanted)
        desired = _limit_rate(spec, state, now, replicas, stabilized)
    if desired != replicas and spec.behavior:  # (without, the rates count no events)
        _store_event(spec, state, now, replicas, desired)
    return desired


def _without_behavior(spec: HpaSpec, state: HpaState, now: float, current: int, wanted: int) -> int:
    """normalizeDesiredReplicas: the highest proposal of the downscale window (this one's
    included), within [min, min(max, ScaleUpLimit)]; ScaleUpLimit is max(2 x current, 4)."""
    cutoff = now - spec.down.stabilization_seconds
    recs = state.recommendations
    while recs and recs[0][0] < cutoff:
        recs.popleft()
    highest = max((value for _, value in recs), default=wanted)
    recs.append((now, wanted))
    ceiling = min(spec.max_replicas, max(2 * current, 4))
    return max(spec.min_replicas, min(max(highest, wanted), ceiling))


def _stabilize(spec: HpaSpec, state: HpaState, now: float, current: int, wanted: int) -> int:
    up_cutoff = now - spec.up.stabilization_seconds
    down_cutoff = now - spec.down.stabilization_seconds
    up = down = wanted
    for t, value in state.recommendations:
        if t > up_cutoff and value < up:
            up = value
        if t > down_cutoff and value > down:
            down = value
    recs = state.recommendations
    obsolete = now - max(spec.up.stabilization_seconds, spec.down.stabilization_seconds)
    while recs and recs[0][0] < obsolete:
        recs.popleft()
    recs.append((now, wanted))
    if spec.kubernetes_1_20:  # one window, chosen by where the proposal points
        return up if wanted >= current else down
    return min(max(current, up), down)


def _limit_rate(spec: HpaSpec, state: HpaState, now: float, current: int, wanted: int) -> int:
    if wanted > current:
        limit = max(current, _up_limit(spec, state, now, current))
        ceiling = min(spec.max_replicas, limit)
        return min(wanted, ceiling)
    if wanted < current:
        limit = min(current, _down_limit(spec, state, now, current))
        floor = max(spec.min_replicas, limit)
        return max(wanted, floor)
    return wanted


def _period_start(
    state: HpaState, now: float, current: int, period: float, *, up: bool, same_way_only: bool
) -> int:
    added = sum(n for t, n in state.ups if t > now - period)
    removed = sum(n for t, n in state.downs if t > now - period)
    if same_way_only:
        return current - added if up else current + removed
    return current - added + removed


def _up_limit(spec: HpaSpec, state: HpaState, now: float, current: int) -> int:
    rules = spec.up
    if rules.select == "Disabled":
        return current
    pick = min if rules.select == "Min" else max
    result: int | None = None
    for policy in rules.policies:
        start = _period_start(
            state, now, current, policy.period_seconds, up=True, same_way_only=spec.kubernetes_1_20
        )
        if policy.kind == "Pods":
            proposed = start + policy.value
        else:
            proposed = math.ceil(start * (1 + policy.value / 100))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def _down_limit(spec: HpaSpec, state: HpaState, now: float, current: int) -> int:
    rules = spec.down
    if rules.select == "Disabled":
        return current
    pick = max if rules.select == "Min" else min
    result: int | None = None
    for policy in rules.policies:
        start = _period_start(
            state, now, current, policy.period_seconds, up=False, same_way_only=spec.kubernetes_1_20
        )
        if policy.kind == "Pods":
            proposed = start - policy.value
        else:
            proposed = int(start * (1 - policy.value / 100))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def _store_event(spec: HpaSpec, state: HpaState, now: float, old: int, new: int) -> None:
    rules, events = (spec.up, state.ups) if new > old else (spec.down, state.downs)
    longest = max((p.period_seconds for p in rules.policies), default=0.0)
    while events and events[0][0] < now - longest:
        events.popleft()
    events.append((now, abs(new - old)))
