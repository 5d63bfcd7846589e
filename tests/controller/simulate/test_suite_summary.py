"""benchmarks/suite_summary.py: what a set of suite runs comes to, by the measures the defaults
are judged on."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.support import benchmark_script


@pytest.fixture(scope="module")
def summary() -> Iterator[ModuleType]:
    with benchmark_script("suite_summary") as module:
        yield module


def run(
    name: str,
    verdict: str,
    p95: dict[str, float],
    cost: dict[str, float],
    tiers: dict[str, dict[str, float]],
    held: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A row as policy_suite.run_workload makes it, with only what the summary reads."""
    return {
        "workload": name,
        "verdict": verdict,
        "held_tiers": list(held),
        "policies": {
            policy: {
                "wait_p50_s": p95[policy] / 5,
                "wait_p95_s": p95[policy],
                "pod_seconds": cost[policy],
                "reversals": {"agentdash": 10, "keda": 4, "hpa": 3}[policy],
                "pending": {"agentdash": 1, "keda": 0, "hpa": 2}[policy],
                "tier_p95_s": {tier: by[policy] for tier, by in tiers.items()},
            }
            for policy in ("agentdash", "keda", "hpa")
        },
    }


ROWS = [
    # Every policy under a second: no one notices, so neither a win nor a loss on p95 (1.0).
    run(
        "real_quiet",
        "WIN",
        p95={"agentdash": 0.0, "keda": 0.6, "hpa": 0.5},
        cost={"agentdash": 90.0, "keda": 100.0, "hpa": 120.0},
        tiers={"enterprise": {"agentdash": 0.0, "keda": 0.6, "hpa": 0.5}},
    ),
    # Half the better baseline's wait, at 1.1x the cheaper one's pods; its starter tier waits
    # 31 s against the better baseline's 20 s (more than 1.5x).
    run(
        "real_busy",
        "LOSS",
        p95={"agentdash": 10.0, "keda": 20.0, "hpa": 40.0},
        cost={"agentdash": 110.0, "keda": 100.0, "hpa": 130.0},
        tiers={
            "enterprise": {"agentdash": 5.0, "keda": 20.0, "hpa": 40.0},
            "starter": {"agentdash": 31.0, "keda": 25.0, "hpa": 20.0},
        },
    ),
    # A tier held back by its budget on purpose is not compared.
    run(
        "synthetic",
        "WIN",
        p95={"agentdash": 5.0, "keda": 6.0, "hpa": 7.0},
        cost={"agentdash": 50.0, "keda": 60.0, "hpa": 70.0},
        tiers={"growth": {"agentdash": 9000.0, "keda": 6.0, "hpa": 7.0}},
        held=("growth",),
    ),
]


def test_a_summary_counts_wins_and_means_the_real_traces_ratios(summary: ModuleType) -> None:
    said = summary.summarize(ROWS, real={"real_quiet", "real_busy"})
    assert (said.runs, said.wins, said.real_runs, said.real_wins) == (3, 2, 2, 1)
    assert said.real_p95 == pytest.approx((1.0 * 0.5) ** 0.5)
    assert said.real_cost == pytest.approx((0.9 * 1.1) ** 0.5)
    assert said.tiers_within == 2  # not real_busy's starter tier
    assert said.reversals == {"agentdash": 30, "keda": 12, "hpa": 9}
    assert said.pending == {"agentdash": 3, "keda": 0, "hpa": 6}


def test_a_summary_says_each_measure_on_a_line(summary: ModuleType) -> None:
    lines = summary.summarize(ROWS, real={"real_quiet", "real_busy"}).lines()
    assert lines[0] == "agentdash wins 2 of 3"
    assert lines[1].startswith("real traces: 1 of 2 won; p95 0.707x the better baseline's, ")
    assert "pod-seconds 0.995x the cheaper one's" in lines[1]
    # The medians (a fifth of each p95 here): under a second on real_quiet (1.0), 2 s against
    # 4 s on real_busy (0.5).
    assert lines[2] == (
        "real traces' median wait: 0.707x the better baseline's (not judged; geometric mean, "
        "medians under 1 s counted as 1 s)"
    )
    assert "within 1.5x its better baseline's: 2 of 3" in lines[3]
    assert lines[4] == "reversals: agentdash 30, KEDA 12 (2.50x), HPA 9"
    assert lines[5] == "left pending at the end: agentdash 3, keda 0, hpa 6"


def test_without_real_traces_there_is_no_real_trace_line(summary: ModuleType) -> None:
    lines = summary.summarize(ROWS[2:], real=()).lines()
    assert lines[0] == "agentdash wins 1 of 1"
    assert not any(line.startswith("real traces") for line in lines)
