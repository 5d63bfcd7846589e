"""The `agentdash` command as a user runs it: real process, real files, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import EXAMPLE, OBSERVATIONS, ROOT, run

pytestmark = pytest.mark.e2e


def test_check_config_summarises_a_good_file() -> None:
    result = run("check-config", EXAMPLE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{EXAMPLE}: OK: 5 pools, 3 tenants, 3 tiers")
    assert "enterprise (1000, x4), growth (500, x2), starter (100, x1)" in result.stdout
    assert "acme-research" in result.stdout
    assert "note: pools may want up to 36 pods but cluster.max_pods is 24" in result.stdout


def test_check_config_counts_one_of_each_in_the_singular(tmp_path: Path) -> None:
    single = tmp_path / "single.yaml"
    single.write_text(
        "tiers: {gold: {priority: 1}}\n"
        "tenants: {acme: {tier: gold}}\n"
        "pools:\n"
        "  web: {tenant: acme, deployment: {name: web},"
        " queue: {stream: AGENT_TASKS, consumer: web}, max_replicas: 2}\n"
    )
    result = run("check-config", single)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{single}: OK: 1 pool, 1 tenant, 1 tier\n")


def test_check_config_notes_a_provider_its_pools_could_overrun(tmp_path: Path) -> None:
    hard = tmp_path / "hard.yaml"
    text = EXAMPLE.read_text().replace("openai:    {rpm: 600}", "openai: {rpm: 500, headroom: 1.5}")
    assert text != EXAMPLE.read_text()
    hard.write_text(text)
    result = run("check-config", hard)
    assert result.returncode == 0, result.stderr
    assert "the pools on openai would make 800 rpm, over its 500 (x1.5 headroom: 750)" in (
        result.stdout
    )


def test_check_config_notes_a_pool_that_asks_for_replicas_before_its_slots_are_full(
    tmp_path: Path,
) -> None:
    wide = tmp_path / "wide.yaml"
    text = EXAMPLE.read_text().replace("    target_lag_per_replica: 4\n", "    concurrency: 8\n", 1)
    assert text != EXAMPLE.read_text()
    wide.write_text(text)
    result = run("check-config", wide)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("note: pool ") == 1
    assert (
        "note: pool globex-triage: target_lag_per_replica 1 is below its concurrency 8: the lag "
        "(tasks queued or in flight) asks for another replica before a replica's slots are full "
        "(target_lag_per_replica: 8 fills them first)"
    ) in result.stdout


def test_check_config_refuses_a_bad_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "agentdash.yaml"
    bad.write_text(EXAMPLE.read_text().replace("max_replicas: 10", "max_replicas: ten", 1))
    line = bad.read_text().splitlines().index("    max_replicas: ten") + 1
    result = run("check-config", bad)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"agentdash: {bad}:{line}: pools.acme-research.max_replicas: expected an integer, "
        "got 'ten'\n"
    )


def test_plan_prints_decisions_in_config_order() -> None:
    result = run("plan", "--config", EXAMPLE, "--observations", OBSERVATIONS)
    assert result.returncode == 0, result.stderr
    decisions = json.loads(result.stdout)["decisions"]
    assert [d["pool"] for d in decisions] == [
        "acme-research", "acme-support", "globex-coder", "globex-triage", "initech-summarize",
    ]  # fmt: skip
    first = decisions[0]
    assert (first["tenant"], first["current"], first["desired"]) == ("acme", 2, 8)
    assert first["reasons"][0]["rule"] == "demand"
    assert first["reasons"][1] == {"rule": "max_replicas", "detail": "max_replicas 10: 23 -> 10"}
    # no history in the file: a controller that has just started, its rate limits in force
    assert first["reasons"][-1] == {
        "rule": "rate limit",
        "detail": "scale-up policy 6 pods / 5 s: at most 8 now, 10 -> 8",
    }
    # the cluster's 24 pods are short: what the others take, the starter tier's
    # initech-summarize (weight 1) gets 4 of the 6 it wants
    coder, starter = decisions[2], decisions[-1]
    assert (coder["desired"], starter["desired"]) == (7, 4)
    assert starter["reasons"][-1] == {
        "rule": "cluster max_pods",
        "detail": "cluster max_pods 24 all in use, shared by tier weight (starter here, weight 1):"
        " 6 -> 4",
    }


def test_plan_leaves_an_unobserved_pool_alone(tmp_path: Path) -> None:
    observations = tmp_path / "obs.json"
    observations.write_text(json.dumps({"pools": {"acme-research": {"pending": 1, "replicas": 1}}}))
    result = run("plan", "--config", EXAMPLE, "--observations", observations)
    assert result.returncode == 0, result.stderr
    support = json.loads(result.stdout)["decisions"][1]
    assert (support["current"], support["desired"]) == (None, None)
    assert support["reasons"][0]["rule"] == "no observation"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", ": line 1 column 2: expected valid JSON: "),
        ('{"pools": {"nope": {"pending": 1, "replicas": 0}}}',
         ": pools.nope: expected a name from the config"),
        # An unknown pool is named as such, not by the fields its reading lacks.
        ('{"pools": {"nope": {"pending": 5}}}', ": pools.nope: expected a name from the config"),
        ('{"pools": {}, "pins": {"nope": {"replicas": "x"}}}',
         ": pins.nope: expected a name from the config"),
        ('{"pools": {"acme-research": {"pending": -1, "replicas": 0}}}',
         ": pools.acme-research.pending: expected a number >= 0, got -1"),
        ('{"pools": {}, "paused_tenants": ["umbrella"]}',
         ": paused_tenants.0: expected a name from the config"),
    ],
)  # fmt: skip
def test_plan_refuses_bad_observations_in_one_line(
    tmp_path: Path, content: str, expected: str
) -> None:
    observations = tmp_path / "obs.json"
    observations.write_text(content)
    result = run("plan", "--config", EXAMPLE, "--observations", observations)
    assert result.returncode == 2
    assert result.stderr.startswith(f"agentdash: {observations}{expected}")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_a_file_name_with_terminal_escapes_is_printed_escaped(tmp_path: Path) -> None:
    """A name from outside never reaches the terminal raw (an escape could clear the screen,
    set the title), nor the nats-server config raw (a newline would end the comment)."""
    named = tmp_path / "x\x1b[2J\x07\nauthorization: {}.yaml"
    named.write_text(EXAMPLE.read_text())
    said = "x\\x1b[2J\\x07\\nauthorization: {}.yaml"
    checked = run("check-config", named)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"{tmp_path}/{said}: OK: ")
    nats = run("queues", "--config", named, "--nats-config")
    assert nats.returncode == 0, nats.stderr
    assert f"# Generated from {said} by" in nats.stdout
    trace = tmp_path / "t\x1b]0;title\x07.jsonl"
    trace.write_text((ROOT / "examples" / "trace.jsonl").read_text())
    replayed = run(
        "simulate",
        "--config",
        ROOT / "examples" / "backtest.yaml",
        "--trace",
        trace,
        "--policy",
        "keda",
    )
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.startswith(f"{tmp_path}/t\\x1b]0;title\\x07.jsonl: 3,857 tasks")
    assert "\x1b" not in checked.stdout + nats.stdout + replayed.stdout
