"""`agentdash simulate` as a user runs it: real process, real files, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import EXAMPLE, ROOT, simulate

pytestmark = pytest.mark.e2e

TRACE = ROOT / "examples" / "trace.jsonl"


def test_the_bundled_trace_compares_the_three_policies_in_a_table() -> None:
    result = simulate("--config", EXAMPLE, "--trace", TRACE)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{TRACE}: ")
    assert lines[2].split() == ["agentdash", "keda", "hpa"]
    assert any(line.startswith("queue wait p95 (s)") for line in lines)
    assert any(line.startswith("tokens over budget") for line in lines)


def test_json_keeps_the_documented_keys() -> None:
    result = simulate("--config", EXAMPLE, "--trace", TRACE, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"tasks", "policies", "lower_bound_pod_seconds"} <= report.keys()
    assert report["policies"].keys() == {"agentdash", "keda", "hpa"}
    keys = {"completed", "pending", "wait_p50_s", "wait_p95_s", "wait_p99_s", "pod_seconds",
            "peak_replicas", "scale_events", "reversals", "tokens_over_budget",
            "by_tier"}  # fmt: skip
    for name, policy in report["policies"].items():
        assert keys <= policy.keys(), name
        assert policy["completed"] + policy["pending"] == report["tasks"]
        assert set(policy["by_tier"]) == {"enterprise", "growth", "starter"}
        assert all("wait_p95_s" in tier for tier in policy["by_tier"].values())
        assert sum(p["tasks"] for p in policy["by_pool"].values()) == report["tasks"]
    assert report["policies"]["agentdash"]["tokens_over_budget"] == 0  # all tenants hard-capped
    assert (
        0
        < report["lower_bound_pod_seconds"]
        <= min(p["pod_seconds"] for p in report["policies"].values())
    )


def test_one_policy_can_be_run_alone_with_its_knobs() -> None:
    fast = simulate("--config", EXAMPLE, "--trace", TRACE, "--policy", "keda", "--json",
               "--keda-polling-interval", "5")  # fmt: skip
    slow = simulate("--config", EXAMPLE, "--trace", TRACE, "--policy", "keda", "--json")
    assert fast.returncode == slow.returncode == 0, fast.stderr + slow.stderr
    fast_keda = json.loads(fast.stdout)["policies"]
    assert list(fast_keda) == ["keda"]
    assert (
        fast_keda["keda"]["wait_p50_s"] < json.loads(slow.stdout)["policies"]["keda"]["wait_p50_s"]
    )


def test_a_bad_trace_line_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"t": 0, "pool": "acme-research", "work_s": 3, "tokens": 10}\n'
        '{"t": 1, "pool": "acme-research", "work_s": -3, "tokens": 10}\n'
    )
    result = simulate("--config", EXAMPLE, "--trace", bad)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"agentdash: {bad}: line 2: work_s: expected a number > 0, got -3\n"


def test_a_trace_of_other_pools_with_no_config_says_whose_pools_it_was_checked_against(
    tmp_path: Path,
) -> None:
    """With no --config the bundled example's config is used: the list of its pools said so
    to no one who did not know."""
    mine = tmp_path / "mine.jsonl"
    mine.write_text('{"t": 1, "pool": "chat-agent", "work_s": 2, "tokens": 5}\n')
    result = simulate("--trace", mine)
    assert result.returncode == 2
    assert result.stderr.startswith(f"agentdash: {mine}: line 1: pool: expected one of the ")
    assert result.stderr.endswith(
        "got 'chat-agent' (with no --config, the bundled example's: give your own)\n"
    )
    assert "bundled" not in simulate("--config", EXAMPLE, "--trace", mine).stderr


def test_without_a_trace_it_says_what_it_needs() -> None:
    result = simulate("--config", EXAMPLE)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--trace FILE" in result.stderr


def test_generate_writes_a_valid_trace_the_same_for_the_same_seed(tmp_path: Path) -> None:
    first = simulate("--generate", "bursty", "--hours", "1", "--seed", "4")
    again = simulate("--generate", "bursty", "--hours", "1", "--seed", "4")
    other = simulate("--generate", "bursty", "--hours", "1", "--seed", "5")
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout != other.stdout
    rows = [json.loads(line) for line in first.stdout.splitlines()]
    assert len(rows) > 100
    assert all(set(row) == {"t", "pool", "work_s", "tokens"} for row in rows)
    saved = tmp_path / "gen.jsonl"
    saved.write_text(first.stdout)
    assert simulate("--config", EXAMPLE, "--trace", saved, "--policy", "hpa").returncode == 0


def test_plot_writes_an_svg(tmp_path: Path) -> None:
    out = tmp_path / "compare.svg"
    result = simulate("--config", EXAMPLE, "--trace", TRACE, "--plot", out)
    assert result.returncode == 0, result.stderr
    assert out.read_text().startswith("<svg xmlns=")


def test_the_headline_counts_the_pools_the_trace_has_not_the_config(tmp_path: Path) -> None:
    one = tmp_path / "one.jsonl"
    one.write_text('{"t": 0, "pool": "acme-research", "work_s": 3, "tokens": 10}\n')
    result = simulate("--config", EXAMPLE, "--trace", one, "--policy", "hpa")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{one}: 1 task over 1 pool (of 5 configured), ")
    every = simulate("--config", EXAMPLE, "--trace", TRACE, "--policy", "hpa")
    assert every.stdout.startswith(f"{TRACE}: 3,857 tasks over 5 pools, ")


def test_events_says_why_agentdash_made_each_change_and_changes_no_decision(
    tmp_path: Path,
) -> None:
    out = tmp_path / "events.jsonl"
    explained = simulate(
        "--config", EXAMPLE, "--trace", TRACE, "--policy", "agentdash", "--json", "--events", out
    )
    plain = simulate("--config", EXAMPLE, "--trace", TRACE, "--policy", "agentdash", "--json")
    assert explained.returncode == plain.returncode == 0, explained.stderr + plain.stderr
    report, same = json.loads(explained.stdout), json.loads(plain.stdout)
    # Only the work differs: explained, every new reading is claimed again.
    assert report["policies"]["agentdash"].pop("pool_claims") > same["policies"]["agentdash"].pop(
        "pool_claims"
    )
    assert report == same
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(events) == same["policies"]["agentdash"]["scale_events"]
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    for event in events:
        assert event["type"] == "scale"
        assert event["from"] != event["to"]
        assert event["direction"] == ("up" if event["to"] > event["from"] else "down")
        assert event["reasons"]
        assert all(r["rule"] and r["detail"] for r in event["reasons"])
    # The last reason names what the pool came to.
    assert (
        sum(e["reasons"][-1]["detail"].endswith(f"-> {e['to']}") for e in events) > len(events) // 2
    )


def test_events_without_agentdash_in_the_run_is_refused_before_it_starts(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    result = simulate("--config", EXAMPLE, "--trace", TRACE, "--policy", "keda", "--events", out)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--policy keda runs none" in result.stderr
    assert not out.exists()
    folder = simulate("--config", EXAMPLE, "--trace", TRACE, "--events", tmp_path)
    assert folder.returncode == 2
    assert folder.stderr == f"agentdash: {tmp_path}: cannot write file: Is a directory\n"


def test_an_output_named_after_an_input_or_another_output_is_refused_before_the_replay(
    tmp_path: Path,
) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_text('{"t": 0, "pool": "acme-research", "work_s": 3, "tokens": 10}\n')
    config = tmp_path / "fleet.yaml"
    config.write_text(EXAMPLE.read_text())
    inputs = {trace: trace.read_text(), config: config.read_text()}
    link = tmp_path / "link.yaml"
    link.symlink_to(config)
    both = tmp_path / "both.svg"
    cases = [
        (["--events", trace], trace, "the --trace it reads"),
        (["--events", link], link, "the --config it reads"),  # the same file by another name
        (["--plot", both, "--events", both], both, "the --plot it writes"),
    ]
    for flags, named, other in cases:
        result = simulate("--config", config, "--trace", trace, *flags)
        assert result.returncode == 2, flags
        assert result.stdout == ""
        said = f"--events: expected a file other than {other}"
        assert result.stderr == f"agentdash: {named}: {said}\n"
        assert {path: path.read_text() for path in inputs} == inputs
        assert not both.exists()


LONDON = """\
tiers: {growth: {priority: 100}}
tenants:
  t: {tier: growth, daily_token_budget: 1000, hard_cap: false, time_zone: Europe/London}
pools:
  a:
    tenant: t
    deployment: {name: a}
    queue: {stream: TASKS, consumer: a}
"""


@pytest.mark.parametrize(("start", "over"), [("2024-01-15", 200), ("2024-07-15", 0)])
def test_start_dates_the_trace_so_a_tenant_s_day_turns_as_its_zone_did_then(
    tmp_path: Path, start: str, over: int
) -> None:
    """Two tasks of 600 tokens at 22:30 and 23:30 UTC against 1,000 a day: one London day in
    January (UTC+0), two in July (UTC+1, the day turns at 23:00 UTC)."""
    fleet, tasks = tmp_path / "fleet.yaml", tmp_path / "trace.jsonl"
    fleet.write_text(LONDON)
    tasks.write_text(
        '{"t": 81000, "pool": "a", "work_s": 10, "tokens": 600}\n'
        '{"t": 84600, "pool": "a", "work_s": 10, "tokens": 600}\n'
    )
    result = simulate(
        "--config", fleet, "--trace", tasks, "--start", start, "--policy", "keda", "--json"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["policies"]["keda"]["tokens_over_budget"] == over


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--start", "2024-02-30"), "argument --start: expected a date YYYY-MM-DD from "
         "1970-01-01 to 2099-12-31, got '2024-02-30'"),
        (("--generate", "bursty", "--start", "2024-01-15"), "--start would be ignored"),
    ],
)  # fmt: skip
def test_a_start_that_is_no_date_or_would_be_ignored_is_one_line_and_exit_2(
    args: tuple[str, ...], said: str
) -> None:
    result = simulate(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert said in result.stderr
