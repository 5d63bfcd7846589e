"""Replay one trace under each policy and compare: the backtest behind `agentdash simulate`.

Every policy starts from its idle steady state (agentdash and KEDA at min_replicas, the HPA at
max(1, min_replicas), those pods ready), sees the same arrivals, and is run until the last
arrival plus `drain_s`, so all are charged pod-seconds over the same horizon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.config import Config
from controller.simulate.baselines import BaselineSettings, HpaScaler, KedaScaler
from controller.simulate.cluster import Cluster
from controller.simulate.engine import Autoscaler, run
from controller.simulate.lower_bound import clairvoyant, lower_bound
from controller.simulate.reconciler import Reconciler
from controller.simulate.report import summarize
from controller.simulate.trace import Trace

POLICIES = ("agentdash", "keda", "hpa")
DRAIN_S = 3600.0


def make_scaler(name: str, config: Config, settings: BaselineSettings | None = None) -> Autoscaler:
    if name == "agentdash":
        return Reconciler(config)
    if name == "keda":
        return KedaScaler(config, settings)
    if name == "hpa":
        return HpaScaler(config, settings)
    raise ValueError(f"unknown policy {name!r}: expected one of {', '.join(POLICIES)}")


@dataclass(frozen=True, slots=True)
class PolicyRun:
    name: str
    scaler: Autoscaler
    cluster: Cluster
    summary: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Backtest:
    config: Config
    trace: Trace
    horizon: float
    drain_s: float
    runs: tuple[PolicyRun, ...]

    def as_dict(self) -> dict[str, Any]:
        """The object `--json` prints; its keys are an interface."""
        reference = next((r for r in self.runs if r.name == "agentdash"), self.runs[0])
        target = reference.summary["wait_p95_s"] or 0.0
        return {
            "tasks": len(self.trace),
            "pools": len(self.config.pools),
            "horizon_s": round(self.horizon, 3),
            "drain_s": self.drain_s,
            "policies": {r.name: r.summary for r in self.runs},
            "lower_bound_pod_seconds": round(self._bound(target), 1),
            "lower_bound_target_p95_s": target,
            "lower_bound_policy": reference.name,
            "clairvoyant_pod_seconds": round(clairvoyant(self.config, self.trace, self.horizon), 1),
        }

    def _bound(self, p95: float) -> float:
        return lower_bound(self.config, self.trace, self.horizon, p95)


def backtest(
    config: Config,
    trace: Trace,
    policies: tuple[str, ...] = POLICIES,
    settings: BaselineSettings | None = None,
    *,
    drain_s: float = DRAIN_S,
    samples: int = 720,
) -> Backtest:
    if not policies:
        raise ValueError("no policy to run")
    horizon = trace.duration + drain_s
    runs = []
    for name in policies:
        scaler = make_scaler(name, config, settings)
        cluster = run(config, trace, scaler, horizon, samples)
        summary = summarize(config, trace, cluster)
        p95 = summary["wait_p95_s"] or 0.0
        summary["lower_bound_pod_seconds"] = round(lower_bound(config, trace, horizon, p95), 1)
        if isinstance(scaler, Reconciler):
            summary["controller_ticks"] = scaler.ticks
            summary["pool_claims"] = scaler.claimed
        runs.append(PolicyRun(name, scaler, cluster, summary))
    return Backtest(config, trace, horizon, drain_s, tuple(runs))
