"""The numbers in the report, and the lower bound, on cases computed by hand."""

from __future__ import annotations

import re

import pytest

from controller.simulate.backtest import backtest
from controller.simulate.baselines import KedaScaler
from controller.simulate.lower_bound import clairvoyant, lower_bound
from controller.simulate.report import percentile, summarize, table, verdict
from tests.support.builders import replay, trace
from tests.support.factories import config, pool


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [percentile(values, q) for q in (0.5, 0.95, 0.99)] == [50.0, 95.0, 99.0]
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.95) is None


def test_a_task_never_started_counts_with_the_wait_it_has_had() -> None:
    cfg = config({"a": pool("t", activation_lag=5)})
    tasks = trace(cfg, (100.0, "a", 10.0, 1))
    summary = summarize(cfg, tasks, replay(cfg, tasks, KedaScaler(cfg), drain=600))
    assert (summary["completed"], summary["pending"]) == (0, 1)  # lag 1 never activates KEDA
    assert summary["waiting"] == 1
    assert summary["wait_p50_s"] == 600.0  # waiting from 100 s to the horizon, 700 s
    assert summary["by_tier"]["enterprise"] == {
        "tasks": 1, "wait_p50_s": 600.0, "wait_p95_s": 600.0, "wait_p99_s": 600.0,
    }  # fmt: skip
    assert summary["by_tier"]["starter"]["wait_p95_s"] is None  # no task in that tier


def test_each_pool_has_its_own_waits_beside_its_tiers() -> None:
    """Alibaba's GenTD26 image requests, three pools in one tier: the tier's p95 was a cold
    start, and only the pools' own waits said that the sparse pools (42% and 59% of their
    tasks waiting one) set it, not the busy one."""
    cfg = config({"a": pool("t", activation_lag=5), "b": pool("t", cold_start_seconds=0)})
    tasks = trace(cfg, (100.0, "a", 10.0, 1), (100.0, "b", 10.0, 1))
    summary = summarize(cfg, tasks, replay(cfg, tasks, KedaScaler(cfg), drain=600))
    assert summary["by_tier"]["enterprise"]["wait_p95_s"] == 600.0
    assert summary["by_pool"]["a"] == {
        "tasks": 1, "wait_p50_s": 600.0, "wait_p95_s": 600.0, "wait_p99_s": 600.0,
    }  # fmt: skip
    assert summary["by_pool"]["b"]["tasks"] == 1
    assert summary["by_pool"]["b"]["wait_p95_s"] < 60.0  # one KEDA poll at most


def test_a_task_running_at_the_end_is_not_done_but_not_queued() -> None:
    cfg = config({"a": pool("t", cold_start_seconds=0)})
    tasks = trace(cfg, (0.0, "a", 5000.0, 1), (0.0, "a", 1.0, 1))
    result = backtest(cfg, tasks, ("keda",), drain_s=600).as_dict()
    summary = result["policies"]["keda"]
    assert (summary["completed"], summary["pending"], summary["waiting"]) == (1, 1, 0)
    assert re.search(r"not done at the end +1\n +of them still queued +0\n", table(result, "t"))


def test_the_lower_bound_is_the_work_a_p95_forces_into_the_horizon() -> None:
    cfg = config({"a": pool("t"), "b": pool("t", concurrency=2)})
    tasks = trace(cfg, (0.0, "a", 100.0, 1), (0.0, "a", 50.0, 1), (10.0, "b", 40.0, 1),
                  (10.0, "b", 40.0, 1))  # fmt: skip
    # All work fits in 200 s: 100 + 50 on one-task pods, 40 + 40 on two-task pods.
    assert lower_bound(cfg, tasks, 200.0, p95=0.0) == 100 + 50 + 40 / 2 + 40 / 2
    # Waiting up to 170 s, a task need only run from a + 170 to the horizon, 200 s:
    # a's tasks 30 s each; b's arrive at 10 s, so 20 s each, on pods that take two.
    assert lower_bound(cfg, tasks, 200.0, p95=170.0) == 30 + 30 + 20 / 2 + 20 / 2


def test_the_lower_bound_leaves_out_the_tasks_a_p95_lets_wait() -> None:
    cfg = config({"a": pool("t")})
    rows = [(0.0, "a", 10.0, 1)] * 20 + [(0.0, "a", 1000.0, 1)]
    # 21 tasks: a p95 needs ceil(0.95 x 21) = 20 within it, so the longest may wait.
    assert lower_bound(cfg, trace(cfg, *rows), 5000.0, p95=0.0) == 20 * 10


def test_the_clairvoyant_plan_pays_cold_starts_and_keeps_pods_through_short_gaps() -> None:
    cfg = config({"a": pool("t", cold_start_seconds=20)})
    tasks = trace(cfg, (100.0, "a", 10.0, 1), (105.0, "a", 10.0, 1), (200.0, "a", 10.0, 1))
    # Busy pod-seconds 30; two pods each created one cold start ahead (2 x 20); at 200 s the
    # first pod has been gone 85 s, longer than a cold start: a new one (20).
    assert clairvoyant(cfg, tasks, 1000.0) == pytest.approx(30 + 2 * 20 + 20)
    quick = trace(cfg, (0.0, "a", 10.0, 1), (15.0, "a", 10.0, 1))
    # A pod already there at time 0 costs nothing before; the 5 s gap is kept, not recreated.
    assert clairvoyant(cfg, quick, 1000.0) == pytest.approx(20 + 5)


def test_the_table_shows_every_policy_and_every_tier() -> None:
    cfg = config({"a": pool("t", cold_start_seconds=2)})
    result = backtest(cfg, trace(cfg, *[(float(t), "a", 5.0, 10) for t in range(0, 300, 7)]))
    text = table(result.as_dict(), "tiny.jsonl")
    assert text.startswith("tiny.jsonl: 43 tasks over 1 pool, ")
    header = text.splitlines()[2].split()
    assert header == ["agentdash", "keda", "hpa"]
    for label in ("queue wait p95 (s)", "  enterprise p95 (s)", "pod-seconds (cost)",
                  "  lower bound for that p95", "reversals within 5 min", "tokens over budget",
                  "clairvoyant zero-wait plan"):  # fmt: skip
        assert label in text


def test_one_task_is_one_task() -> None:
    cfg = config({"a": pool("t", cold_start_seconds=2)})
    result = backtest(cfg, trace(cfg, (0.0, "a", 5.0, 10)))
    assert table(result.as_dict(), "one.jsonl").startswith("one.jsonl: 1 task over 1 pool, ")


def test_the_table_keeps_large_figures_and_long_tier_names_apart() -> None:
    tier = "enterprise-customers-with-a-long-contract"
    cfg = config({"a": pool("t")}, {"t": {"tier": tier}}, tiers={tier: {"priority": 1}})
    result = backtest(cfg, trace(cfg, (0.0, "a", 10.0, 1)), ("keda", "hpa")).as_dict()
    month_of_a_thousand_pods = 1000 * 31 * 86400.0
    result["policies"]["keda"]["pod_seconds"] = month_of_a_thousand_pods
    result["policies"]["hpa"]["tokens_over_budget"] = 12_000_000_000_000
    lines = table(result, "big.jsonl").splitlines()
    assert "2,678,400,000.0" in next(line for line in lines if line.startswith("pod-seconds"))
    rows = lines[3 : lines.index("", 3)]
    figure = re.compile(r"-|[\d,]+(\.\d)?")
    for row in rows:  # a label, then one figure per policy, apart and in aligned columns
        assert all(figure.fullmatch(cell) for cell in row.split()[-2:]), row
        assert len(row) == len(lines[2]), row
    assert any(row.startswith(f"  {tier} p95 (s) ") for row in rows)


@pytest.mark.parametrize(
    ("drain", "said"),
    [(100.0, "100 s"), (0.0, "0 s"), (3600.0, "1 h"), (5400.0, "1.5 h"), (5000.0, "1.39 h")],
)
def test_the_headline_says_the_drain_in_seconds_under_an_hour(drain: float, said: str) -> None:
    cfg = config({"a": pool("t", cold_start_seconds=2)})
    result = backtest(cfg, trace(cfg, (0.0, "a", 5.0, 10)), ("keda",), drain_s=drain)
    assert f" simulated (trace + {said} to drain)\n" in table(result.as_dict(), "one.jsonl")


def test_the_clairvoyant_plan_says_it_leaves_out_the_min_replicas_floor() -> None:
    # A pool kept at one replica pays the whole horizon under every policy; the plan starts
    # its pod for the one task only, so the note must say the floor is not in its figure.
    cfg = config({"a": pool("t", min_replicas=1, cold_start_seconds=20)})
    tasks = trace(cfg, (0.0, "a", 10.0, 1))
    result = backtest(cfg, tasks, ("keda",), drain_s=600).as_dict()
    assert result["clairvoyant_pod_seconds"] < result["policies"]["keda"]["pod_seconds"] / 10
    note = " ".join(table(result, "t").split())
    assert "min_replicas" in note


def _policy(p95: float, pod_seconds: float, over: int = 0) -> dict[str, float | int]:
    return {"wait_p95_s": p95, "pod_seconds": pod_seconds, "tokens_over_budget": over}


@pytest.mark.parametrize(
    ("ours", "said"),
    [
        (_policy(3.0, 900.0), "verdict: agentdash wins\n  p95 3.0 s against 3.9 s (hpa)\n  "
         "pod-seconds 900 against 1,000 (keda)"),
        (_policy(11.2, 900.0), "verdict: agentdash does not win\n  p95 11.2 s against 3.9 s "
         "(hpa)\n  pod-seconds 900 against 1,000 (keda)"),
        (_policy(3.9, 1000.0), "verdict: agentdash ties (the same p95 and pod-seconds: counted "
         "as a win)\n  p95 3.9 s against 3.9 s (hpa)\n  pod-seconds 1,000 against 1,000 (keda)"),
        (_policy(3.9, 1000.0, over=1234), "verdict: agentdash does not win\n  p95 3.9 s against "
         "3.9 s (hpa)\n  pod-seconds 1,000 against 1,000 (keda)\n  tokens over budget: agentdash "
         "1,234, keda 0, hpa 0"),
    ],
)  # fmt: skip
def test_the_verdict_compares_with_the_better_wait_and_the_cheaper_cost(
    ours: dict[str, float | int], said: str
) -> None:
    """A user replaying their own trace reads whether agentdash beat both baselines, and
    against which one each figure was held, without working it out from the table."""
    policies = {"agentdash": ours, "keda": _policy(5.1, 1000.0), "hpa": _policy(3.9, 4000.0)}
    assert verdict(policies) == said
    assert verdict({"agentdash": ours}) is None
    assert verdict({"keda": _policy(5.1, 1000.0), "hpa": _policy(3.9, 4000.0)}) is None


def test_the_verdict_says_what_a_budget_held_back_and_the_baselines_overspent() -> None:
    """Keeping a budget makes tasks wait that the baselines ran with tokens no one paid for:
    the line says so beside the p95 it costs."""
    ours = {**_policy(4094.6, 135_119.6), "delayed_by_budget_or_pause": 609}
    keda, hpa = _policy(493.6, 204_420.4, 1_046_980), _policy(490.5, 226_679.1, 1_046_980)
    assert verdict({"agentdash": ours, "keda": keda, "hpa": hpa}) == (
        "verdict: agentdash does not win\n  p95 4,094.6 s against 490.5 s (hpa), counting 609 "
        "tasks a budget or pause held back\n  pod-seconds 135,120 against 204,420 (keda)\n  "
        "tokens over budget: agentdash 0, keda 1,046,980, hpa 1,046,980"
    )


def test_the_table_ends_with_the_verdict() -> None:
    cfg = config({"a": pool("t", cold_start_seconds=2)})
    result = backtest(cfg, trace(cfg, (0.0, "a", 5.0, 10))).as_dict()
    assert "\nverdict: agentdash " in table(result, "one.jsonl")
    alone = backtest(cfg, trace(cfg, (0.0, "a", 5.0, 10)), ("agentdash",)).as_dict()
    assert "verdict" not in table(alone, "one.jsonl")


def test_the_json_carries_the_verdict_the_table_ends_with() -> None:
    """A script reading `--json` gets the verdict without working it out from the figures."""
    cfg = config({"a": pool("t", cold_start_seconds=2)})
    result = backtest(cfg, trace(cfg, (0.0, "a", 5.0, 10), (40.0, "a", 5.0, 10))).as_dict()
    judged = result["verdict"]
    policies = result["policies"]
    assert judged["wins"] == ("verdict: agentdash wins" in table(result, "two.jsonl"))
    better = judged["better_baseline"]
    assert judged["better_p95_s"] == policies[better]["wait_p95_s"]
    assert judged["p95_s"] == policies["agentdash"]["wait_p95_s"]
    cheaper = judged["cheaper_baseline"]
    assert judged["cheaper_pod_seconds"] == policies[cheaper]["pod_seconds"]
    alone = backtest(cfg, trace(cfg, (0.0, "a", 5.0, 10)), ("agentdash",)).as_dict()
    assert alone["verdict"] is None


@pytest.mark.parametrize(("drain", "said"), [(0.0, "5 s"), (100.0, "105 s"), (3595.0, "1.0 h")])
def test_the_headline_says_a_horizon_under_an_hour_in_seconds(drain: float, said: str) -> None:
    """A trace of seconds replayed with --drain 0 was '0.0 h simulated'."""
    cfg = config({"a": pool("t", cold_start_seconds=2)})
    result = backtest(cfg, trace(cfg, (5.0, "a", 5.0, 10)), ("keda",), drain_s=drain)
    assert f", {said} simulated (trace + " in table(result.as_dict(), "one.jsonl")
