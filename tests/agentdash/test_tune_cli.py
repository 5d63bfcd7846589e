"""`agentdash tune` as a user runs it: real process, real files, a diff `patch` applies."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from agentdash.config_edit import plain
from controller.core.config import Config, load_config, parse_config
from controller.simulate.trace import Trace, write_trace
from tests.support.cli import AGENTDASH, simulate, tune
from tests.support.tuning import WASTEFUL, wasteful, workload

pytestmark = pytest.mark.e2e
BOM = b"\xef\xbb\xbf"
"""The byte order mark an editor on Windows may start a UTF-8 file with."""


def wasteful_files(tmp_path: Path, traffic: Callable[[Config], Trace]) -> tuple[Path, Path]:
    """The wasteful fleet's config file, and a trace file of `traffic` on that fleet."""
    config = tmp_path / "fleet.yaml"
    config.write_text(WASTEFUL)
    trace = tmp_path / "trace.jsonl"
    with trace.open("w") as out:
        write_trace(traffic(load_config(config)), out)
    return config, trace


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return wasteful_files(tmp_path, workload)


def test_a_wasteful_pool_is_tuned_and_the_diff_applies(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    config, trace = files
    tuned = tmp_path / "tuned.yaml"
    result = tune("--config", config, "--trace", trace, "--trials", "16", "--objective", "cost",
                 "--output", tuned)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "by pool (2 groups), objective cost" in out
    assert "Pareto front:" in out
    assert "held-out check: the last 30% of the trace's time" in out
    said = "The chosen config beats the current one on the held-out tail too (--objective cost)."
    assert said in out
    diff = out[out.index(f"--- {config}\t(current)") :]
    removed = [line for line in diff.splitlines() if line.startswith("-    ")]
    assert "-    cooldown_seconds: 3600" in removed
    assert "-      scale_down: {stabilization_seconds: 3600}" in removed
    assert "steady" not in "".join(line for line in diff.splitlines() if line[:1] in "+-@")

    patched = tmp_path / "patched.yaml"
    shutil.copy(config, patched)
    applied = subprocess.run(["patch", "--silent", str(patched)], input=diff, text=True,
                             capture_output=True, check=False)  # fmt: skip
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert patched.read_text() == tuned.read_text()
    before, after = load_config(config), parse_config(yaml.safe_load(patched.read_text()))
    hoarder = after.pools["hoarder"]
    assert hoarder.cooldown_seconds < 3600
    assert hoarder.behavior.scale_down.stabilization_seconds < 3600
    # Only behavior and cooldown_seconds change.
    for name, pool in after.pools.items():
        fields = {"behavior", "cooldown_seconds"}
        assert pool.model_dump(exclude=fields) == before.pools[name].model_dump(exclude=fields)
    assert after.model_dump(exclude={"pools"}) == before.model_dump(exclude={"pools"})


def test_a_config_saved_on_windows_is_tuned_in_its_own_line_endings(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    """The lines tune added to a CRLF config ended in LF alone, in --output and in the diff: a
    file of mixed line endings; and --output dropped the byte order mark the file began with."""
    _, trace = files
    config = tmp_path / "windows.yaml"
    config.write_bytes(BOM + WASTEFUL.replace("\n", "\r\n").encode())
    tuned = tmp_path / "tuned.yaml"
    result = subprocess.run(  # in bytes: text=True would read every CRLF as LF
        [AGENTDASH, "tune", "--config", str(config), "--trace", str(trace), "--trials", "16",
         "--objective", "cost", "--output", str(tuned)],
        capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = tuned.read_bytes()
    assert written.startswith(BOM + b"cluster:")
    assert written.count(b"\n") == written.count(b"\r\n")
    assert written != config.read_bytes()
    diff = result.stdout[result.stdout.index(f"--- {config}\t(current)".encode()) :]
    assert b"\n+" in diff
    patched = tmp_path / "patched.yaml"
    shutil.copy(config, patched)
    applied = subprocess.run(["patch", "--silent", str(patched)], input=diff,
                             capture_output=True, check=False)  # fmt: skip
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert patched.read_bytes() == written


def test_a_config_whose_pools_share_a_behavior_by_an_alias_gets_no_diff_patch_misapplies(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    """tune said the layout could not be kept, yet headed the diff of the data written out
    `--- fleet.yaml (current)`: `patch`, told it was the file, failed on every hunk."""
    _, trace = files
    config = tmp_path / "shared.yaml"
    text = WASTEFUL.replace("    behavior:\n", "    behavior: &slow\n").replace(
        "    target_lag_per_replica: 2\n", "    target_lag_per_replica: 2\n    behavior: *slow\n"
    )
    config.write_text(text)
    before = load_config(config)
    assert before.pools["steady"].behavior == before.pools["hoarder"].behavior
    tuned = tmp_path / "tuned.yaml"
    result = tune("--config", config, "--trace", trace, "--trials", "16", "--objective", "cost",
                  "--output", tuned)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"--- {config}" not in out
    said = f"(no diff of {config} that patch applies: it shares values by YAML anchors and "
    diff = out[out.index(said) :].split("\n", 1)[1]
    assert diff.startswith(f"--- the data of {config}\t(current)\n")
    applied = subprocess.run(["patch", "--batch", "-p0"], input=diff, text=True, cwd=tmp_path,
                             capture_output=True, check=False)  # fmt: skip
    assert applied.returncode == 1
    assert "can't find file to patch" in applied.stdout
    assert config.read_text() == text
    # --output: the tuned config, written out plainly; the diff is of its data
    after = load_config(tuned)
    assert after.pools["hoarder"].behavior.scale_down.stabilization_seconds < 3600
    assert after.model_dump(exclude={"pools"}) == before.model_dump(exclude={"pools"})
    data = tmp_path / "data.yaml"
    data.write_text(plain(text))
    applied = subprocess.run(["patch", "--silent", str(data)], input=diff, text=True,
                             capture_output=True, check=False)  # fmt: skip
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert data.read_text() == tuned.read_text()


def test_a_config_tuned_in_place_is_left_whole_when_its_write_fails(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    """A write cut short (a full disk; here a limit on a file's size) leaves the config as it
    was: written over in place, it was cut where the disk filled, and a cut may still parse,
    as neither the old config nor the tuned one (`stabilization_seconds: 1` of 15)."""
    config, trace = files
    before = config.read_text()
    limit = len(before.encode()) // 2
    result = subprocess.run(
        [AGENTDASH, "tune", "--config", str(config), "--trace", str(trace), "--trials", "16",
         "--objective", "cost", "--output", str(config)],
        capture_output=True, text=True, timeout=300, check=False,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"agentdash: {config}: cannot write file: File too large\n"
    assert config.read_text() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["fleet.yaml", "trace.jsonl"]


def test_a_trace_of_the_hour_before_midnight_is_tuned_with_the_default_holdout(
    tmp_path: Path,
) -> None:
    rows = [(82_800.0 + 60 * k, 1, 20.0, 50) for k in range(60)]
    config, late = wasteful_files(tmp_path, lambda fleet: Trace.build(fleet.pools, rows))
    result = tune("--config", config, "--trace", late, "--trials", "4")
    assert result.returncode == 0, result.stderr
    # The span runs from the first task (23.0 h) to the last (23.98 h): 70% of it ends at
    # 23.7 h, and the heading says where the search began.
    assert "search: the first 70% of the trace's time (42 tasks, 23.0 h to 23.7 h)" in result.stdout


def test_a_pick_that_does_worse_on_the_held_out_tail_is_not_written_and_exits_1(
    tmp_path: Path,
) -> None:
    # the search sees bursts 2 h apart, the tail 10 min apart
    config, trace = wasteful_files(tmp_path, lambda fleet: workload(fleet, tail_bursts_every=600))
    tuned = tmp_path / "tuned.yaml"
    result = tune("--config", config, "--trace", trace, "--trials", "16", "--objective", "cost",
                  "--output", tuned)  # fmt: skip
    assert result.returncode == 1
    assert "The chosen config does NOT beat the current one on the held-out tail" in result.stdout
    assert f"--- {config}\t(current)" in result.stdout  # the diff is still shown
    assert result.stderr == (
        f"agentdash: {tuned}: not written: the chosen config does worse than the current one "
        "on the held-out tail\n"
    )
    assert not tuned.exists()


def test_a_trace_all_at_one_instant_says_which_holdout_works(tmp_path: Path) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text(WASTEFUL)
    burst = tmp_path / "burst.jsonl"
    burst.write_text('{"t": 5, "pool": "steady", "work_s": 3, "tokens": 10}\n' * 3)
    refused = tune("--config", config, "--trace", burst, "--trials", "4")
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        f"agentdash: {burst}: --holdout 0.3 leaves no task to search on: its 3 tasks all "
        "arrive at once"
    )
    assert "try --holdout 0" in refused.stderr
    assert refused.stderr.count("\n") == 1
    one = tmp_path / "one.jsonl"
    one.write_text('{"t": 5, "pool": "steady", "work_s": 3, "tokens": 10}\n')
    result = tune("--config", config, "--trace", one, "--trials", "4", "--holdout", "0")
    assert result.returncode == 0, result.stderr
    assert "search: the whole trace (1 task, " in result.stdout
    assert "not tuned, no task in the trace: hoarder" in result.stdout
    assert "tail" not in result.stdout


@pytest.mark.parametrize("value", ["1.5", "-1", "1", "most"])
def test_a_bad_holdout_is_one_line_and_exit_2(files: tuple[Path, Path], value: str) -> None:
    config, trace = files
    result = tune("--config", config, "--trace", trace, "--holdout", value)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"agentdash tune: argument --holdout: expected a number >= 0 and < 1, got {value!r} "
        "(see agentdash tune --help)\n"
    )


def test_a_bad_objective_is_one_line_and_exit_2(files: tuple[Path, Path]) -> None:
    config, trace = files
    result = tune("--config", config, "--trace", trace, "--objective", "balanced:2")
    assert result.returncode == 2
    assert result.stderr == (
        "agentdash tune: argument --objective: expected balanced:W with 0 < W < 1, got "
        "'balanced:2' (see agentdash tune --help)\n"
    )


def test_start_dates_the_replays_and_a_bad_one_is_one_line(files: tuple[Path, Path]) -> None:
    config, trace = files
    dated = tune("--config", config, "--trace", trace, "--trials", "2", "--start", "2024-07-15")
    assert dated.returncode == 0, dated.stderr
    bad = tune("--config", config, "--trace", trace, "--start", "15/07/2024")
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr == (
        "agentdash tune: argument --start: expected a date YYYY-MM-DD from 1970-01-01 to "
        "2099-12-31, got '15/07/2024' (see agentdash tune --help)\n"
    )


def test_a_bad_config_names_the_file_and_field(files: tuple[Path, Path], tmp_path: Path) -> None:
    _, trace = files
    bad = tmp_path / "bad.yaml"
    bad.write_text(WASTEFUL.replace("cooldown_seconds: 3600", "cooldown_seconds: long"))
    result = tune("--config", bad, "--trace", trace)
    assert result.returncode == 2
    assert result.stderr.startswith(f"agentdash: {bad}:12: pools.hoarder.cooldown_seconds: ")
    assert result.stderr.count("\n") == 1


def test_when_no_candidate_does_better_nothing_changes(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    _, trace = files
    fixed = tmp_path / "fixed.yaml"  # always two warm pods each: no behavior can do better
    text = WASTEFUL.replace("max_replicas: 10", "min_replicas: 2\n    max_replicas: 2").replace(
        "max_replicas: 4", "min_replicas: 2\n    max_replicas: 2"
    )
    fixed.write_bytes(BOM + text.replace("\n", "\r\n").encode())  # saved on Windows
    output = tmp_path / "tuned.yaml"
    result = tune(
        "--config",
        fixed,
        "--trace",
        trace,
        "--trials",
        "8",
        "--objective",
        "p95",
        "--output",
        output,
    )
    assert result.returncode == 0, result.stderr
    stays, best = result.stdout.rstrip().splitlines()[-2:]
    assert stays == (
        "The current config stays (objective p95): 7 other candidates were tried, and none that "
        "may be picked is better by more than 1% in p95 wait."
    )
    assert best.startswith("The best that may be picked, candidate #")
    assert "(tuned)" not in result.stdout
    assert output.read_bytes() == fixed.read_bytes()  # --output is the tuned config: the same


@pytest.mark.parametrize(
    ("where", "expected"),
    [("a-folder", "Is a directory"), ("missing/tuned.yaml", "No such file or directory")],
)
def test_an_output_it_cannot_write_is_one_line_before_the_search(
    files: tuple[Path, Path], tmp_path: Path, where: str, expected: str
) -> None:
    config, trace = files
    (tmp_path / "a-folder").mkdir()
    output = tmp_path / where
    result = tune("--config", config, "--trace", trace, "--output", output)
    assert result.returncode == 2
    assert result.stdout == ""  # no search was run
    assert result.stderr == f"agentdash: {output}: cannot write file: {expected}\n"


def test_an_output_that_is_the_trace_is_refused_before_the_search(
    files: tuple[Path, Path],
) -> None:
    config, trace = files
    kept = trace.read_text()
    result = tune("--config", config, "--trace", trace, "--output", trace, "--trials", "2")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"agentdash: {trace}: --output: expected a file other than the --trace it reads\n"
    )
    assert trace.read_text() == kept


def test_pools_left_out_are_told_apart_by_why(tmp_path: Path) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text(WASTEFUL)
    trace = tmp_path / "late.jsonl"
    trace.write_text(  # hoarder's only task is in the held-out tail; no pool is never named
        "".join(f'{{"t": {t}, "pool": "hoarder", "work_s": 3, "tokens": 1}}\n' for t in [900])
        + "".join(f'{{"t": {t}, "pool": "steady", "work_s": 3, "tokens": 1}}\n' for t in [0, 60])
    )
    result = tune("--config", config, "--trace", trace, "--trials", "2")
    assert result.returncode == 0, result.stderr
    assert "not tuned, no task before the tail: hoarder\n" in result.stdout
    assert "no task in the trace" not in result.stdout
    only_steady = tmp_path / "steady.jsonl"
    only_steady.write_text(
        "".join(f'{{"t": {t}, "pool": "steady", "work_s": 3, "tokens": 1}}\n' for t in [0, 60, 900])
    )
    result = tune("--config", config, "--trace", only_steady, "--trials", "2")
    assert result.returncode == 0, result.stderr
    assert "not tuned, no task in the trace: hoarder\n" in result.stdout  # not 'before the tail'
    assert "before the tail:" not in result.stdout


def test_tasks_a_budget_holds_back_never_wait_longer_for_a_cheaper_pick(tmp_path: Path) -> None:
    """A hard cap holds back every task of a pool none of whose tasks has reported yet, so the
    p95 counts none of them: a scale-up slow enough to make them wait 2.5x longer (130 s ->
    324 s under simulate) looked free, and tune chose it. Whatever it picks now, simulate's
    p95, which counts them, is no worse."""
    config = tmp_path / "one.yaml"
    config.write_text(
        "tiers: {prod: {priority: 1}}\n"
        "tenants: {acme: {tier: prod, daily_token_budget: 1000000000000}}\n"
        "pools:\n"
        "  research: {tenant: acme, deployment: {name: research},"
        " queue: {stream: T, consumer: research}, max_replicas: 20, target_lag_per_replica: 1}\n"
    )
    trace = tmp_path / "burst.jsonl"
    trace.write_text('{"t": 100, "pool": "research", "work_s": 30, "tokens": 100}\n' * 50)
    output = tmp_path / "tuned.yaml"

    result = tune("--config", config, "--trace", trace, "--holdout", "0", "--output", output)

    assert result.returncode == 0, result.stderr
    assert "the 50 tasks a budget or pause held back" in result.stdout
    before, after = (simulated_p95(path, trace) for path in (config, output))
    assert after <= before == 130.0


def simulated_p95(config: Path, trace: Path) -> float:
    found = simulate("--config", config, "--trace", trace, "--policy", "agentdash", "--json")
    assert found.returncode == 0, found.stderr
    return float(json.loads(found.stdout)["policies"]["agentdash"]["wait_p95_s"])


def test_the_held_out_tail_keeps_the_budget_days_of_the_trace(tmp_path: Path) -> None:
    """The tail is replayed from 0, and its budget days were read from 0 too: a tail from
    05:36 to 08:00 spent one day's budget where the trace spends two (a reset at 07:00), and
    the check left 45 tasks not done, held back by a budget the trace never ran out of."""
    config = tmp_path / "fleet.yaml"
    config.write_text(WASTEFUL.replace(
        "initech: {tier: starter}",
        'initech: {tier: starter, daily_token_budget: 5000, budget_reset: "07:00"}',
    ))  # fmt: skip
    rows = [row for row in workload(wasteful()).rows() if row["pool"] == "hoarder"]
    # the steady pool only in the tail: 84 tasks of 50 tokens before 07:00, 60 after
    rows += [{"t": float(t), "pool": "steady", "work_s": 20.0, "tokens": 50}
             for t in range(20160, 28800, 60)]  # fmt: skip
    trace = tmp_path / "trace.jsonl"
    trace.write_text("".join(json.dumps(row) + "\n" for row in sorted(rows, key=lambda r: r["t"])))

    result = tune("--config", config, "--trace", trace, "--trials", "16", "--objective", "cost")

    assert result.returncode == 0, result.stderr
    check = result.stdout[result.stdout.index("held-out check:") :]
    assert "held back" not in check
    assert "  not done at the end                 0            0" in check
