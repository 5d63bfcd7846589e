"""Replay one trace under each policy and compare: the backtest behind `agentdash simulate`.

Every policy starts from its idle steady state (agentdash and KEDA at min_replicas, the HPA at
max(1, min_replicas), those pods ready), sees the same arrivals, and is run until the last
arrival plus `drain_s`, so all are charged pod-seconds over the same horizon.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from controller.core.config import Config
from controller.core.events import ScaleEvent
from controller.simulate.baselines import BaselineSettings, HpaScaler, KedaScaler
from controller.simulate.clock import Autoscaler, run
from controller.simulate.lower_bound import clairvoyant, lower_bound
from controller.simulate.report import judge, summarize
from controller.simulate.shell import VirtualLoop
from controller.simulate.trace import Trace
from controller.simulate.workers import forked_pool, forks

POLICIES = ("agentdash", "keda", "hpa")
DRAIN_S = 3600.0


def make_scaler(
    name: str, config: Config, settings: BaselineSettings | None = None, *, explain: bool = False
) -> Autoscaler:
    """The policy `name`; with `explain`, agentdash keeps every change it made with its
    reasons (VirtualLoop.explained)."""
    if name == "agentdash":
        return VirtualLoop(config, explain=explain)
    if name == "keda":
        return KedaScaler(config, settings)
    if name == "hpa":
        return HpaScaler(config, settings)
    raise ValueError(f"unknown policy {name!r}: expected one of {', '.join(POLICIES)}")


@dataclass(frozen=True, slots=True)
class PolicyRun:
    """What the report and the plot read of one policy's run."""

    name: str
    summary: dict[str, Any]
    series: list[tuple[float, int, int]]
    """(time, peak queue lag, peak pods) per sample interval (Cluster.series)."""
    events: tuple[ScaleEvent, ...] = ()
    """agentdash's changes with their reasons, where the backtest was asked to explain."""


@dataclass(frozen=True, slots=True)
class Backtest:
    config: Config
    trace: Trace
    horizon: float
    drain_s: float
    runs: tuple[PolicyRun, ...]
    clairvoyant_pod_seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The object `--json` prints; its keys are an interface."""
        reference = next((r for r in self.runs if r.name == "agentdash"), self.runs[0])
        judged = judge({r.name: r.summary for r in self.runs})
        return {
            "tasks": len(self.trace),
            "pools": len(self.config.pools),
            "trace_pools": len(set(self.trace.pool)),
            "horizon_s": round(self.horizon, 3),
            "drain_s": self.drain_s,
            "policies": {r.name: r.summary for r in self.runs},
            "lower_bound_pod_seconds": reference.summary["lower_bound_pod_seconds"],
            "lower_bound_target_p95_s": reference.summary["wait_p95_s"] or 0.0,
            "lower_bound_policy": reference.name,
            "clairvoyant_pod_seconds": round(self.clairvoyant_pod_seconds, 1),
            "verdict": None if judged is None else judged.as_dict(),
        }


def backtest(
    config: Config,
    trace: Trace,
    policies: tuple[str, ...] = POLICIES,
    settings: BaselineSettings | None = None,
    *,
    drain_s: float = DRAIN_S,
    samples: int = 720,
    workers: int | None = None,
    explain: bool = False,
) -> Backtest:
    """Run each policy over the trace. With several policies and cores, the runs go side by
    side, one process each (forked, so the trace is shared, not copied), at most `workers`
    (default: the cores there are); each run is the same as alone. With `explain`,
    agentdash's run keeps its changes with their reasons (PolicyRun.events)."""
    if not policies:
        raise ValueError("no policy to run")
    horizon = trace.duration + drain_s
    jobs = [(config, trace, name, settings, horizon, samples, explain) for name in policies]
    processes = min(len(jobs) + 1, workers or os.cpu_count() or 1)
    if processes > 1 and forks():
        global _jobs
        _jobs = jobs  # inherited by the forked workers: nothing large is pickled
        try:
            with forked_pool(processes) as pool:
                planned = pool.submit(_plan_job)
                runs = list(pool.map(_run_job, range(len(jobs))))
                plan = planned.result()
        finally:
            _jobs = []
    else:
        runs = [run_policy(*job) for job in jobs]
        plan = clairvoyant(config, trace, horizon)
    return Backtest(config, trace, horizon, drain_s, tuple(runs), plan)


def run_policy(
    config: Config,
    trace: Trace,
    name: str,
    settings: BaselineSettings | None,
    horizon: float,
    samples: int = 720,
    explain: bool = False,
) -> PolicyRun:
    scaler = make_scaler(name, config, settings, explain=explain)
    cluster = run(config, trace, scaler, horizon, samples)
    summary = summarize(config, trace, cluster)
    p95 = summary["wait_p95_s"] or 0.0
    summary["lower_bound_pod_seconds"] = round(lower_bound(config, trace, horizon, p95), 1)
    if isinstance(scaler, VirtualLoop):
        summary["controller_ticks"] = scaler.ticks
        summary["pool_claims"] = scaler.claimed
        summary["patches_throttled"] = scaler.throttled
        return PolicyRun(name, summary, cluster.series, tuple(scaler.explained or ()))
    return PolicyRun(name, summary, cluster.series)


_jobs: list[tuple[Config, Trace, str, BaselineSettings | None, float, int, bool]] = []


def _run_job(index: int) -> PolicyRun:
    return run_policy(*_jobs[index])


def _plan_job() -> float:
    config, trace, _, _, horizon, _, _ = _jobs[0]
    return clairvoyant(config, trace, horizon)
