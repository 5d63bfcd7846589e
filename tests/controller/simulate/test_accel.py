"""The compiled hot path (`make accel`) is used only while it is the very same source, and then
gives exactly what plain Python gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller import accel

ROOT = Path(__file__).parents[3]


def test_a_build_counts_only_while_every_source_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accel, "BUILD", tmp_path)
    assert not accel.built()  # nothing built here
    stamp = {"python": sys.implementation.cache_tag, "sources": accel._hashes()}
    (tmp_path / "stamp.json").write_text(json.dumps(stamp))
    assert accel.built()
    stamp["sources"]["controller/core/policy.py"] = "0" * 64  # the policy edited since the build
    (tmp_path / "stamp.json").write_text(json.dumps(stamp))
    assert not accel.built()
    stamp = {"python": "cpython-399", "sources": accel._hashes()}  # built for another Python
    (tmp_path / "stamp.json").write_text(json.dumps(stamp))
    assert not accel.built()


def test_plain_python_is_asked_for_and_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accel, "BUILD", tmp_path)
    stamp = {"python": sys.implementation.cache_tag, "sources": accel._hashes()}
    (tmp_path / "stamp.json").write_text(json.dumps(stamp))
    monkeypatch.setenv("AGENTDASH_PURE", "1")
    assert accel.use_compiled() is False


SCRIPT = """
import json, sys
from controller.accel import use_compiled
compiled = use_compiled()
from controller.core.config import load_config
from controller.simulate.backtest import backtest
from controller.simulate.generate import generate
import controller.core.policy
config = load_config("examples/backtest.yaml")
result = backtest(config, generate(config, "bursty", 2, 5), workers=1).as_dict()
print(json.dumps({"compiled": compiled, "file": controller.core.policy.__file__, "result": result}))
"""


def _backtest(pure: bool) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "AGENTDASH_PURE"}
    if pure:
        env["AGENTDASH_PURE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
        check=True, timeout=300,
    )  # fmt: skip
    out: dict[str, object] = json.loads(done.stdout)
    return out


@pytest.mark.e2e  # two processes, one plain and one compiled
@pytest.mark.skipif(
    not accel.built(), reason="the compiled hot path is not built here (make accel)"
)
def test_the_compiled_backtest_gives_exactly_what_plain_python_gives() -> None:
    compiled, plain = _backtest(pure=False), _backtest(pure=True)
    assert compiled["compiled"] is True
    assert str(compiled["file"]).endswith(".so")
    assert plain["compiled"] is False
    assert str(plain["file"]).endswith("policy.py")
    assert compiled["result"] == plain["result"]


EXPLAINED = """
import json
from controller.accel import use_compiled
compiled = use_compiled()
from controller.core.config import load_config
from controller.simulate.backtest import backtest
from controller.simulate.generate import generate
config = load_config("examples/backtest.yaml")
result = backtest(config, generate(config, "bursty", 2, 5), workers=2, explain=True)
events = [event.as_dict() for run in result.runs for event in run.events]
print(json.dumps({"compiled": compiled, "events": events}))
"""


@pytest.mark.e2e  # two processes, one plain and one compiled, each forking its workers
@pytest.mark.skipif(
    not accel.built(), reason="the compiled hot path is not built here (make accel)"
)
def test_a_compiled_backtest_in_workers_explains_its_changes_as_plain_python_does() -> None:
    # The workers send their runs back pickled, each change with its reasons (records).
    env = {k: v for k, v in os.environ.items() if k != "AGENTDASH_PURE"}
    runs = []
    for pure in (False, True):
        env.pop("AGENTDASH_PURE", None)
        if pure:
            env["AGENTDASH_PURE"] = "1"
        done = subprocess.run(
            [sys.executable, "-c", EXPLAINED], cwd=ROOT, env=env, capture_output=True,
            text=True, check=False, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(json.loads(done.stdout))
    compiled, plain = runs
    assert compiled["compiled"] is True
    assert plain["compiled"] is False
    assert compiled["events"]
    assert compiled["events"] == plain["events"]


HARD_CAP = """\
tiers: {gold: {priority: 1}}
tenants: {t1: {tier: gold, daily_token_budget: 1000000, hard_cap: true}}
pools:
  p1: {tenant: t1, deployment: {name: p1}, queue: {stream: S, consumer: p1}, max_replicas: 8}
"""


def _simulate(config: Path, trace: Path, pure: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AGENTDASH_PURE"}
    if pure:
        env["AGENTDASH_PURE"] = "1"
    command = ["simulate", "--config", str(config), "--trace", str(trace), "--json"]
    return subprocess.run(
        [sys.executable, "-m", "agentdash", *command], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.e2e  # the agentdash command, plain and compiled
@pytest.mark.skipif(
    not accel.built(), reason="the compiled hot path is not built here (make accel)"
)
def test_a_hard_cap_running_out_replays_compiled_as_in_plain_python(tmp_path: Path) -> None:
    # A spent hard cap is the one step a plain module (the budget's) decides for the compiled
    # policy: both must see the same Claim class, or the command dies with a TypeError.
    config, trace = tmp_path / "cap.yaml", tmp_path / "cap.jsonl"
    config.write_text(HARD_CAP)
    task = {"pool": "p1", "work_s": 20, "tokens": 30000}
    rows = (json.dumps({"t": 3 * k, **task}) for k in range(60))
    trace.write_text("\n".join(rows) + "\n")
    compiled, plain = _simulate(config, trace, pure=False), _simulate(config, trace, pure=True)
    assert compiled.returncode == 0, compiled.stderr
    assert plain.returncode == 0, plain.stderr
    result = json.loads(compiled.stdout)
    assert result == json.loads(plain.stdout)
    assert result["policies"]["agentdash"]["delayed_by_budget_or_pause"] > 0  # it ran out
