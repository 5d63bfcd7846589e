"""What `agentdash tune` says of its pick on the held-out tail: beats only where it is better."""

from __future__ import annotations

import pytest

from agentdash.tune_report import holdout_check, pareto_front
from controller.simulate.trace import Trace
from controller.simulate.tradeoff import Objective, Outcome, Trial
from controller.simulate.tune import Search, Split

CURRENT = Outcome(p95=297.0, pod_seconds=1000.0, tier_p95={}, pending=0, scale_events=4)
BEATS = "The chosen config beats the current one on the held-out tail too ({})."
MATCHES = (
    "The chosen config matches the current one on the held-out tail ({}), "
    "but does not beat it there."
)
WORSE = "The chosen config does NOT beat the current one on the held-out tail ({}): "


def _picked(p95: float, pod_seconds: float) -> Outcome:
    return Outcome(p95=p95, pod_seconds=pod_seconds, tier_p95={}, pending=0, scale_events=4)


def _verdict(objective: str, picked: Outcome) -> str:
    task = [(0.0, 0, 1.0, 1)]
    parts = Split(Trace.build(["a"], task), Trace.build(["a"], task), at=50.0)
    return holdout_check(Objective.parse(objective), parts, 100.0, CURRENT, picked)[-1]


@pytest.mark.parametrize(
    ("objective", "picked", "said"),
    [
        ("p95", _picked(297.0, 900.0), MATCHES),  # the stranger's: equal p95, fewer pods
        ("p95", _picked(297.0, 1000.0), MATCHES),
        ("p95", _picked(250.0, 1000.0), BEATS),
        ("p95", _picked(300.0, 900.0), WORSE),
        ("p95", _picked(250.0, 1100.0), WORSE),  # better p95, but at more cost than allowed
        ("cost", _picked(200.0, 1000.0), MATCHES),
        ("cost", _picked(297.0, 800.0), BEATS),
        ("both", _picked(297.0, 1000.0), MATCHES),
        ("both", _picked(297.0, 900.0), BEATS),
        ("balanced", _picked(297.0, 1000.0), MATCHES),
    ],
)
def test_the_held_out_verdict_says_beats_only_when_strictly_better(
    objective: str, picked: Outcome, said: str
) -> None:
    assert _verdict(objective, picked).startswith(said.format(Objective.parse(objective)))


def _front(current: Outcome) -> list[str]:
    trials = (Trial(0, (), current), Trial(1, (), _picked(250.0, 900.0)))
    return pareto_front(Search((), trials, Objective.parse("both"), 1.0, stopped_early=False))


def test_the_front_says_its_p95_leaves_out_the_tasks_a_budget_held_back() -> None:
    """simulate's p95 on the same trace counts them, so without a word the two differ
    (164 s against 0.0 s on Mooncake's hour, for one fleet)."""
    held = Outcome(p95=297.0, pod_seconds=1000.0, tier_p95={}, pending=0, scale_events=4, held=880)

    said = "\n".join(_front(held))

    assert "880 tasks a budget or pause held back" in said
    assert "agentdash simulate" in said
    assert "held back" not in "\n".join(_front(CURRENT))
