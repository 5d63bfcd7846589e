"""Does the HPA model (controller.simulate.hpa) decide as the real HPA does?

The same External metric series goes to the real HPA (Kubernetes 1.20.2's controller, see
benchmarks/hpa_referee.py) and to the model. The real HPA's syncs are its metric reads: at
each one the model is given what the real HPA had (the time, the metric value it read, the
Deployment's replicas and status replicas) and decides; its decision is compared with the
replicas the real HPA set. A difference is also followed through: the model alone on the
read series, with its own replicas, against the real run (replica-seconds).

Three versions of the model are judged:
  default   as the backtest's `hpa` baseline runs by default: every HPA with the documented
            default behavior (an HPA written without one: that, with its scale-down window
            the controller flag)
  written   the HPA as written: `behavior=False` where it has none (`--hpa-behavior 0` in
            `agentdash simulate`); the later releases' rules otherwise
  1.20      as written, with `kubernetes_1_20=True`: the referee's own release rules

Scenarios: steps up and down, ramps and noise; without `behavior`, with the default
policies, with policy lists (Min and Max), stabilization windows, and a tolerance flag.
Windows and periods are short (seconds) so each scenario takes 150 s; the HPA syncs every 2 s.
Scenarios sharing the controller's flags run at once; all of it takes about 6 minutes.

    python benchmarks/hpa_fidelity.py [--only NAME ...]

Needs `make kube` (kube-apiserver, kube-controller-manager and etcd 1.20.2).
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from hpa_referee import ControllerFlags, Read, Referee, Replicas, Series

from controller.simulate.hpa import (
    DEFAULT_DOWN,
    DEFAULT_UP,
    HpaPolicy,
    HpaSpec,
    HpaState,
    ScalingRules,
    reconcile,
)
from tests.support.kube import ControlPlane, binaries_dir, missing_binaries

SECONDS = 150.0
TARGET = 2.0
MAX_REPLICAS = 30


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    series: Series
    behavior: dict[str, Any] | None
    """The HPA's `spec.behavior` as written, every field given (None: no behavior)."""
    flags: ControllerFlags = ControllerFlags()  # noqa: RUF009 (frozen: one shared is fine)
    replicas: int = 1
    """The Deployment's replicas when its HPA starts."""


def steps(*points: tuple[float, float]) -> Series:
    """(from second, value) pairs: the value holds until the next one."""
    return lambda t: next(v for start, v in reversed(points) if t >= start)


def ramp(*points: tuple[float, float]) -> Series:
    """(second, value) pairs joined by straight lines, the last value held."""

    def value(t: float) -> float:
        for (t0, v0), (t1, v1) in itertools.pairwise(points):
            if t < t1:
                return v0 + (v1 - v0) * max(0.0, t - t0) / (t1 - t0)
        return points[-1][1]

    return value


def noise(level: float, spread: float, slot_s: float, seed: int) -> Series:
    """`level` times 1 +- `spread`, a new draw every `slot_s` (seeded: the same each run)."""
    draws = random.Random(seed)
    values = [level * (1 + spread * (2 * draws.random() - 1)) for _ in range(1000)]
    return lambda t: round(values[int(t // slot_s)], 1)


def rules(window: int, policies: list[tuple[str, int, int]], select: str = "Max") -> dict[str, Any]:
    return {
        "stabilizationWindowSeconds": window,
        "selectPolicy": select,
        "policies": [{"type": k, "value": v, "periodSeconds": p} for k, v, p in policies],
    }


DEFAULTS = {  # the documented defaults, but a 25 s scale-down window (not 300 s)
    "scaleUp": rules(0, [("Pods", 4, 15), ("Percent", 100, 15)]),
    "scaleDown": rules(25, [("Percent", 100, 15)]),
}
STEP = steps((0, 2), (15, 40), (60, 6), (120, 2))
RAMP = ramp((0, 0), (70, 50), (120, 0))
TOLERANT = ControllerFlags(tolerance=0.3)

SCENARIOS = [
    Scenario("step-nobehavior", STEP, None),
    Scenario("ramp-nobehavior", RAMP, None),
    Scenario("noise-nobehavior", noise(20, 0.3, 3, seed=1), None),
    Scenario("step-defaults", STEP, DEFAULTS),
    Scenario("noise-defaults", noise(20, 0.3, 3, seed=2), DEFAULTS),
    Scenario(
        "step-lists",
        steps((0, 4), (10, 50), (70, 10), (110, 1)),
        {
            "scaleUp": rules(7, [("Pods", 2, 9), ("Percent", 50, 13)], "Min"),
            "scaleDown": rules(19, [("Pods", 3, 11), ("Percent", 30, 7)], "Max"),
        },
    ),
    Scenario(
        "ramp-windows",
        RAMP,
        {
            "scaleUp": rules(11, [("Percent", 100, 5)]),
            "scaleDown": rules(23, [("Pods", 2, 5)]),
        },
    ),
    Scenario(  # down, then up again within the rate periods: what each period counts
        "bounce-periods",
        steps((0, 20), (20, 4), (64, 30)),
        {
            "scaleUp": rules(0, [("Pods", 3, 31)]),
            "scaleDown": rules(0, [("Percent", 50, 31)]),
        },
        replicas=10,
    ),
    Scenario("noise-nobehavior-tol0.3", noise(20, 0.3, 3, seed=3), None, TOLERANT),
    Scenario("ramp-defaults-tol0.3", RAMP, DEFAULTS, TOLERANT),
]


def hpa_object(scenario: Scenario) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": scenario.name},
        "minReplicas": 1,
        "maxReplicas": MAX_REPLICAS,
        "metrics": [
            {
                "type": "External",
                "external": {
                    "metric": {"name": scenario.name},
                    "target": {"type": "AverageValue", "averageValue": f"{TARGET:g}"},
                },
            }
        ],
    }
    if scenario.behavior is not None:
        spec["behavior"] = scenario.behavior
    return spec


def scaling_rules(written: dict[str, Any]) -> ScalingRules:
    return ScalingRules(
        float(written["stabilizationWindowSeconds"]),
        tuple(
            HpaPolicy(p["type"], int(p["value"]), float(p["periodSeconds"]))
            for p in written["policies"]
        ),
        written["selectPolicy"],
    )


def model_specs(scenario: Scenario) -> dict[str, HpaSpec]:
    """The three models of this scenario's HPA (see the module)."""
    flags = scenario.flags
    base = HpaSpec(1, MAX_REPLICAS, TARGET, flags.tolerance)
    if scenario.behavior is None:
        down = ScalingRules(float(flags.downscale_window_s), DEFAULT_DOWN.policies)
        default = replace(base, up=DEFAULT_UP, down=down)
        written = replace(default, behavior=False)
    else:
        up, down = (scaling_rules(scenario.behavior[k]) for k in ("scaleUp", "scaleDown"))
        default = written = replace(base, up=up, down=down)
    return {
        "default": default,
        "written": written,
        "1.20": replace(written, kubernetes_1_20=True),
    }


@dataclass(frozen=True, slots=True)
class Sync:
    """One sync of the real HPA: what it read and had, and what it set."""

    at: float
    value: float
    current: int
    status: int
    decided: int


def syncs(reads: Sequence[Read], changes: Sequence[Replicas]) -> list[Sync]:
    def last_before(at: float) -> Replicas:
        return [c for c in changes if c.at < at][-1]

    found = []
    for i, read in enumerate(reads[:-1]):  # the last one's decision may not be seen yet
        before = last_before(read.at)
        decided = last_before(reads[i + 1].at).spec
        found.append(Sync(read.at, read.value, before.spec, before.status, decided))
    return found


@dataclass(frozen=True, slots=True)
class Verdict:
    decisions_differing: list[tuple[Sync, int]]
    trajectory: list[int]
    """The model alone, on the same reads: its replicas after each sync."""

    def replica_seconds(self, seen: Sequence[Sync], replicas: Sequence[int]) -> float:
        times = [s.at for s in seen] + [seen[-1].at + 2.0]
        return sum(r * (t1 - t0) for r, t0, t1 in zip(replicas, times, times[1:], strict=False))


def judge(spec: HpaSpec, seen: Sequence[Sync]) -> Verdict:
    state, differing = HpaState(), []
    for sync in seen:
        model = reconcile(spec, state, sync.at, sync.current, sync.status, sync.value)
        if model != sync.decided:
            differing.append((sync, model))
    alone, replicas, trajectory = HpaState(), seen[0].current, []
    for sync in seen:
        replicas = reconcile(spec, alone, sync.at, replicas, replicas, sync.value)
        trajectory.append(replicas)
    return Verdict(differing, trajectory)


def report(scenario: Scenario, seen: list[Sync]) -> None:
    real = [s.decided for s in seen]
    print(f"\n{scenario.name}: {len(seen)} syncs, real replicas {compact(real)}")
    for label, spec in model_specs(scenario).items():
        verdict = judge(spec, seen)
        real_rs = verdict.replica_seconds(seen, real)
        model_rs = verdict.replica_seconds(seen, verdict.trajectory)
        gaps = [abs(a - b) for a, b in zip(real, verdict.trajectory, strict=True)]
        print(
            f"  {label:8} decisions differing {len(verdict.decisions_differing):3}/{len(seen)}; "
            f"alone: {sum(g > 0 for g in gaps):3} syncs apart, at most {max(gaps)}, "
            f"replica-seconds {model_rs:7.0f} vs {real_rs:7.0f} "
            f"({100 * (model_rs - real_rs) / real_rs:+.1f}%)"
        )
        for sync, model in verdict.decisions_differing[:4]:
            print(
                f"      t={sync.at:6.1f}s metric {sync.value:6.1f} replicas {sync.current} "
                f"(status {sync.status}): real {sync.decided}, model {model}"
            )
        if verdict.decisions_differing:
            print(f"      alone: {compact(verdict.trajectory)}")


def compact(replicas: Sequence[int]) -> str:
    """A run of replicas as `value x count` pieces."""
    pieces: list[list[int]] = []
    for r in replicas:
        if pieces and pieces[-1][0] == r:
            pieces[-1][1] += 1
        else:
            pieces.append([r, 1])
    return " ".join(f"{r}x{n}" if n > 1 else str(r) for r, n in pieces)


def run(scenarios: list[Scenario]) -> None:
    where = binaries_dir()
    reason = missing_binaries(where)
    if reason is not None:
        sys.exit(f"hpa_fidelity: {reason}")
    started = time.monotonic()
    with ControlPlane(where) as plane:
        referee = Referee(plane)
        try:
            for flags in dict.fromkeys(s.flags for s in scenarios):
                group = [s for s in scenarios if s.flags == flags]
                print(
                    f"kube-controller-manager 1.20.2: sync {flags.sync_s} s, tolerance "
                    f"{flags.tolerance}, downscale window {flags.downscale_window_s} s; "
                    f"{', '.join(s.name for s in group)} at once, {SECONDS:.0f} s",
                    flush=True,
                )
                with referee.controller_manager(flags):
                    for scenario in group:
                        referee.start(
                            scenario.name, scenario.series, hpa_object(scenario), scenario.replicas
                        )
                    time.sleep(SECONDS)  # the real HPA runs in real time
                    for scenario in group:
                        referee.stop(scenario.name)
                for scenario in group:
                    seen = syncs(referee.reads(scenario.name), referee.replicas[scenario.name])
                    report(scenario, seen)
        finally:
            referee.close()
    print(f"\n{time.monotonic() - started:.0f} s in all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME")
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if args.only is None or s.name in args.only]
    if not chosen:
        sys.exit(f"hpa_fidelity: --only: none of {[s.name for s in SCENARIOS]}")
    run(chosen)


if __name__ == "__main__":
    main()
