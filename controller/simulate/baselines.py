"""The baselines, modelled on their documented behaviour with their defaults.

- `hpa`: the Horizontal Pod Autoscaler on the pool's lag as an external metric (AverageValue
  target = target_lag_per_replica), synced every 15 s (controller.simulate.hpa), min replicas
  at least 1: the HPA does not scale to zero.
- `keda`: KEDA's nats-jetstream scaler. Every pollingInterval (30 s) it reads lag =
  pending + ack_pending; a target at 0 with lag > activationLagThreshold goes to
  max(minReplicaCount, 1), and a target with no activity for cooldownPeriod goes back
  to 0 (when minReplicaCount is 0). In between, the HPA that KEDA creates (min 1) scales on
  ceil(lag / lagThreshold), reading the lag live at each of its syncs.

Each pool maps to: lagThreshold / target = target_lag_per_replica, activation_lag,
min/max replicas; for KEDA, cooldownPeriod = its cooldown_seconds and the HPA's behavior =
its behavior, where the pool sets them (as a pool `agentdash import keda` wrote does, from its
ScaledObject), else the settings' (300 s, the HPA's defaults).

Both act on the very cluster agentdash acts on (controller.simulate.cluster), so they meet the
same limits: the cluster's and each tenant's pod quotas (their creations beyond them wait, first
come first served), each provider's rpm (a task waits for it while its pod idles, paid), and
the ReplicaSet's scale-down (it removes the most recently ready pods, busy or not; a task that
outlasts the grace period is redelivered and runs again). Neither knows tokens, tiers, tenants
or providers: they scale on lag alone, so they overspend budgets (reported), add pods that
only wait for a provider's rpm, and ask for pods a quota will not give.

Not modelled: the metrics pipeline (the lag is read exact and current, with no scrape or
adapter delay and no failed reads, so no KEDA fallback), the HPA controller's spread of syncs
(every target syncs at the same instants), KEDA's scaling modifiers, pause annotations and
ScaledJobs, and the HPA's conditions and events.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

from controller.core.behavior import ScalingRule
from controller.core.config import Config, PoolConfig
from controller.simulate.cluster import Cluster
from controller.simulate.cluster_parts import SimPool
from controller.simulate.hpa import HpaPolicy, HpaSpec, HpaState, ScalingRules, reconcile


def _setting(
    default: float, help: str, most: float | None = None, whole: bool = False, least: float = 0
) -> float:
    """A knob: its default, what it is, at most `most` (None: a span of time, bounded by the
    longest trace), at least `least`, and whether it counts (pods, percent, a yes or no)
    rather than measures."""
    metadata = {"help": help, "most": most, "whole": whole, "least": least}
    return field(default=default, metadata=metadata)


class Knob(NamedTuple):
    name: str
    default: float
    help: str
    most: float | None
    whole: bool
    least: float


@dataclass(frozen=True, slots=True)
class BaselineSettings:
    """The baselines' knobs; each default is the documented one."""

    # A tick period: one near 0 made the replay tick without end. KEDA's pollingInterval is
    # whole seconds, at least 1; the HPA's sync period is in seconds too.
    keda_polling_interval: float = _setting(30.0, "KEDA pollingInterval, seconds", least=1)
    keda_cooldown_period: float = _setting(
        300.0, "KEDA cooldownPeriod, seconds, of a pool that sets no cooldown_seconds"
    )
    hpa_sync_period: float = _setting(15.0, "HPA sync period, seconds", least=1)
    hpa_tolerance: float = _setting(0.1, "HPA tolerance", most=0.99)
    hpa_up_stabilization: float = _setting(0.0, "HPA scaleUp stabilizationWindowSeconds")
    # A policy's value is at least 1, as the HPA's API refuses 0: a policy allowing no change
    # is selectPolicy Disabled, which these baselines do not model.
    hpa_up_pods: float = _setting(
        4, "HPA scaleUp Pods policy: pods per period", most=100_000, whole=True, least=1
    )
    hpa_up_percent: float = _setting(
        100, "HPA scaleUp Percent policy: percent per period", most=100_000, whole=True, least=1
    )
    hpa_up_period: float = _setting(15.0, "HPA scaleUp policies' periodSeconds")
    hpa_down_stabilization: float = _setting(300.0, "HPA scaleDown stabilizationWindowSeconds")
    hpa_down_percent: float = _setting(
        100, "HPA scaleDown Percent policy: percent per period", most=100, whole=True, least=1
    )
    hpa_down_period: float = _setting(15.0, "HPA scaleDown policy's periodSeconds")
    hpa_behavior: float = _setting(
        1,
        "HPA spec has a behavior: 1, the policies above; 0, none (as KEDA's and a plain "
        "HPA's by default): up max(2 x current, 4) a sync, the scaleDown window only",
        most=1,
        whole=True,
    )

    def hpa_spec(self, min_replicas: int, max_replicas: int, target: float) -> HpaSpec:
        up = ScalingRules(
            self.hpa_up_stabilization,
            (
                HpaPolicy("Pods", int(self.hpa_up_pods), self.hpa_up_period),
                HpaPolicy("Percent", int(self.hpa_up_percent), self.hpa_up_period),
            ),
        )
        down = ScalingRules(
            self.hpa_down_stabilization,
            (HpaPolicy("Percent", int(self.hpa_down_percent), self.hpa_down_period),),
        )
        return HpaSpec(
            min_replicas,
            max_replicas,
            target,
            self.hpa_tolerance,
            up,
            down,
            behavior=bool(self.hpa_behavior),
        )

    @classmethod
    def knobs(cls) -> list[Knob]:
        """Every knob, for the command line."""
        defaults = cls()
        return [
            Knob(
                name=f.name,
                default=float(getattr(defaults, f.name)),
                help=str(f.metadata["help"]),
                most=f.metadata["most"],
                whole=bool(f.metadata["whole"]),
                least=f.metadata["least"],
            )
            for f in dataclasses.fields(cls)
        ]


class HpaScaler:
    name = "hpa"
    gate_budgets = False
    marks_idle = False

    def __init__(self, config: Config, settings: BaselineSettings | None = None) -> None:
        self.settings = settings or BaselineSettings()
        self.specs = [
            self.settings.hpa_spec(max(1, p.min_replicas), p.max_replicas, p.target_lag_per_replica)
            for p in config.pools.values()
        ]
        self.states = [HpaState() for _ in self.specs]
        self.wakes = bytearray(len(self.specs))

    def initial(self) -> list[int]:
        return [spec.min_replicas for spec in self.specs]

    def wake(self, now: float, pool: int) -> float:
        raise AssertionError("the HPA is never woken by an arrival")

    def tick(self, now: float, cluster: Cluster) -> float:
        for p in cluster.pools:
            self.sync(p, now, cluster)
        return now + self.settings.hpa_sync_period

    def sync(self, p: SimPool, now: float, cluster: Cluster) -> None:
        spec, state = self.specs[p.index], self.states[p.index]
        lag = len(p.queue) + p.running
        idle = lag == 0 and p.spec == spec.min_replicas and spec.tolerance < 1
        if idle and state.recommendations:
            # Idle at the floor: the proposal is 0 and the floor holds it, whatever the
            # history; only the recommendation is remembered (the common case, made cheap).
            state.recommendations.append((now, 0))
            recs, keep = state.recommendations, now - spec.down.stabilization_seconds
            keep = min(keep, now - spec.up.stabilization_seconds)
            while recs[0][0] < keep:
                recs.popleft()
            return
        desired = reconcile(spec, state, now, p.spec, len(p.pods), lag)
        if desired != p.spec:
            cluster.scale(p.index, desired, now)


class KedaScaler:
    name = "keda"
    gate_budgets = False
    marks_idle = False

    def __init__(self, config: Config, settings: BaselineSettings | None = None) -> None:
        self.settings = settings or BaselineSettings()
        pools = list(config.pools.values())
        self.hpa = HpaScaler(config, self.settings)  # KEDA's HPA: min max(1, minReplicaCount)
        self.hpa.specs = [keda_hpa_spec(p, self.settings) for p in pools]
        self.cooldown = [
            p.cooldown_seconds
            if "cooldown_seconds" in p.model_fields_set
            else self.settings.keda_cooldown_period
            for p in pools
        ]
        self.min_count = [p.min_replicas for p in pools]
        self.activation = [p.activation_lag for p in pools]
        self.last_active: list[float | None] = [None] * len(pools)
        self.wakes = bytearray(len(pools))
        self.next_poll = self.next_sync = 0.0

    def initial(self) -> list[int]:
        return list(self.min_count)

    def wake(self, now: float, pool: int) -> float:
        raise AssertionError("KEDA is never woken by an arrival: it polls")

    def tick(self, now: float, cluster: Cluster) -> float:
        # When both are due at once, KEDA's poll acts first and its HPA syncs after.
        if now >= self.next_poll:
            for p in cluster.pools:
                self.poll(p, now, cluster)
            self.next_poll = now + self.settings.keda_polling_interval
        if now >= self.next_sync:
            for p in cluster.pools:
                if p.spec > 0:  # at 0 the HPA is disabled
                    self.hpa.sync(p, now, cluster)
            self.next_sync = now + self.settings.hpa_sync_period
        return min(self.next_poll, self.next_sync)

    def poll(self, p: SimPool, now: float, cluster: Cluster) -> None:
        """KEDA's scaleExecutor.RequestScale (pkg/scaling/executor/scale_scaledobjects.go,
        v2.19.0) for a ScaledObject with no idleReplicaCount, fallback or pause."""
        i = p.index
        lag = len(p.queue) + p.running
        minimum = self.min_count[i]
        if lag > self.activation[i]:  # the nats-jetstream scaler's IsActive
            if p.spec == 0:  # scaleFromZeroOrIdle: minReplicaCount if above 0, else 1
                cluster.scale(i, max(minimum, 1), now)
            self.last_active[i] = now
        elif p.spec > 0 and minimum == 0:
            last = self.last_active[i]
            # scaleToZeroOrIdle tests LastActiveTime + cooldownPeriod < now, strictly; but
            # LastActiveTime is a metav1.Time, which the API server keeps to the second: read
            # back at a later poll, it is up to a second before the poll that was active. So
            # the poll cooldownPeriod after that one (polls are pollingInterval apart, or a
            # little more) scales to zero, not the next: hence <= here, where polls are exact.
            if last is None or last + self.cooldown[i] <= now:
                cluster.scale(i, 0, now)
        elif p.spec < minimum:
            cluster.scale(i, minimum, now)


def keda_hpa_spec(pool: PoolConfig, settings: BaselineSettings) -> HpaSpec:
    """The HPA KEDA makes for this pool: with the pool's own `behavior` where it sets one (an
    imported pool's is its ScaledObject's), and the settings' rules for a direction it leaves
    out, as the HPA fills them in. The tolerance stays the settings' (one for both ways)."""
    spec = settings.hpa_spec(
        max(1, pool.min_replicas), pool.max_replicas, pool.target_lag_per_replica
    )
    if "behavior" not in pool.model_fields_set:
        return spec
    given = pool.behavior.model_fields_set
    up = _rules(pool.behavior.scale_up, spec.up) if "scale_up" in given else spec.up
    down = _rules(pool.behavior.scale_down, spec.down) if "scale_down" in given else spec.down
    return dataclasses.replace(spec, up=up, down=down, behavior=True)


def _rules(rule: ScalingRule, default: ScalingRules) -> ScalingRules:
    """A pool's rule as the HPA's; a rule with no policies gets the HPA's default ones, as the
    API server fills them in (agentdash reads none as no rate limit)."""
    policies = tuple(HpaPolicy(p.type, p.value, p.period_seconds) for p in rule.policies)
    return ScalingRules(
        rule.stabilization_seconds, policies or default.policies, rule.select_policy
    )
