"""benchmarks/policy_suite.py on shortened traces: every workload runs under the three
policies, on the default behavior unless overridden. Its figures are never asserted here."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from controller.core.behavior import Behavior
from controller.core.config import PoolConfig
from tests.support import benchmark_script

pytestmark = pytest.mark.e2e

QUICK = 0.05
"""Traces a twentieth of their length: the whole suite in a few seconds."""


@pytest.fixture(scope="module")
def suite() -> Iterator[ModuleType]:
    with benchmark_script("policy_suite") as module:
        yield module


@pytest.fixture(scope="module")
def rows(suite: ModuleType) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = suite.run_suite(1, scale=QUICK)
    return result


def test_every_workload_has_a_result_for_each_policy_and_a_verdict(
    suite: ModuleType, rows: list[dict[str, Any]]
) -> None:
    assert [row["workload"] for row in rows] == list(suite.SHAPES)
    assert len(rows) >= 8
    for row in rows:
        assert set(row["policies"]) == {"agentdash", "keda", "hpa"}
        assert row["tasks"] > 0
        assert row["verdict"] == ("LOSS" if row["lost"] else "WIN")
        assert row["workload"] in suite.table(row)


def test_the_budget_bound_workload_is_over_budget_for_the_baselines(
    rows: list[dict[str, Any]],
) -> None:
    (row,) = [row for row in rows if row["workload"] == "budget_bound"]
    assert row["policies"]["keda"]["tokens_over_budget"] > 0
    assert row["policies"]["hpa"]["tokens_over_budget"] > 0
    assert row["held_tiers"] == ["growth"]


def test_only_runs_the_named_workloads_with_the_same_traces(
    suite: ModuleType, rows: list[dict[str, Any]]
) -> None:
    (alone,) = suite.run_suite(1, only=["flash_crowd"], scale=QUICK)
    assert alone == next(row for row in rows if row["workload"] == "flash_crowd")


@pytest.mark.parametrize("name", ["sparse", "budget_bound"])
def test_another_seed_gives_another_trace(suite: ModuleType, name: str) -> None:
    _, _, first = suite.build(name, 1, scale=QUICK)
    assert suite.build(name, 1, scale=QUICK)[2] == first
    assert suite.build(name, 2, scale=QUICK)[2] != first


def test_pools_keep_the_default_behavior_and_cooldown_unless_overridden(
    suite: ModuleType,
) -> None:
    default_cooldown = PoolConfig.model_fields["cooldown_seconds"].default
    for name in suite.SHAPES:
        _, config, _ = suite.build(name, 1, scale=QUICK)
        for pool in config.pools.values():
            assert pool.behavior == Behavior()
            assert pool.cooldown_seconds == default_cooldown
    window = {"scale_down": {"stabilization_seconds": 42}}
    _, config, _ = suite.build("steady", 1, {"behavior": window, "cooldown_seconds": 60}, QUICK)
    for pool in config.pools.values():
        assert pool.behavior.scale_down.stabilization_seconds == 42
        assert pool.behavior.scale_up == Behavior().scale_up
        assert pool.cooldown_seconds == 60


def test_a_bad_behavior_is_one_line_and_exit_2(
    suite: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        suite.main(["--behavior", '{"scale_up": {"policies": [{"type": "Pod", "value": 1}]}}'])
    assert exit_.value.code == 2
    assert "--behavior: scale_up.policies.0" in capsys.readouterr().err
