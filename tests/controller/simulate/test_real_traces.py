"""benchmarks/real_traces.py: the shipped Azure traces load, a bad row is one line naming the
file, the line and the field, and the workloads are what their docstring says (three tiers, a
budget that fits its day). The policies' figures are never asserted here."""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from controller.core.config import ConfigError
from tests.support import benchmark_script

GOOD = "2023-11-16 18:17:03.9799600,4808,10"


@pytest.fixture(scope="module")
def suite() -> Iterator[ModuleType]:
    with benchmark_script("policy_suite") as module:
        yield module


@pytest.fixture
def real(suite: ModuleType) -> ModuleType:
    """real_traces as the suite imported it (patching it patches the suite's workloads)."""
    return importlib.import_module("real_traces")


def test_the_shipped_traces_load_whole(real: ModuleType) -> None:
    code = real.load_requests(real.AZURE["code"])
    conv = real.load_requests(real.AZURE["conv"])
    assert (len(code), len(conv)) == (8819, 19366)
    assert code[0].t == 0
    assert 3400 < code[-1].t < 3600
    assert all(a.t <= b.t for a, b in itertools.pairwise(code))


@pytest.mark.parametrize(
    ("row", "where"),
    [
        ("2023-11-16 18:17:04.0319600,many,8", "ContextTokens: expected a whole number"),
        ("2023-11-16 18:17:04.0319600,3180,-8", "GeneratedTokens: expected a whole number"),
        ("yesterday,3180,8", "TIMESTAMP: expected a time like 2023-11-16 18:17:03.9799600"),
        ("2023-11-16 18:17:04.0319600,3180", "expected 3 fields, got 2"),
    ],
)
def test_a_bad_row_is_one_line_naming_the_file_line_and_field(
    real: ModuleType, tmp_path: Path, row: str, where: str
) -> None:
    path = tmp_path / "trace.csv"
    path.write_text(f"TIMESTAMP,ContextTokens,GeneratedTokens\n{GOOD}\n{row}\n")
    with pytest.raises(ConfigError) as caught:
        real.load_requests(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: ")
    assert where in message
    assert "\n" not in message


def test_the_suite_exits_2_with_one_line_on_a_bad_trace_file(
    suite: ModuleType,
    real: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "code.csv"
    path.write_text("when,context,generated\n")
    monkeypatch.setitem(real.AZURE, "code", path)
    assert suite.main(["--only", "azure_code_requests"]) == 2
    assert capsys.readouterr().err == (
        f"{path}:1: expected the header TIMESTAMP,ContextTokens,GeneratedTokens\n"
    )


def test_every_real_workload_spreads_its_requests_over_three_tiers(real: ModuleType) -> None:
    for name, shape in real.REAL.items():
        draft = shape(real.random.Random(f"{name}-1"), 0.05)
        tenants = {draft.data["pools"][pool]["tenant"] for _, pool, _, _ in draft.rows}
        assert {draft.data["tenants"][t]["tier"] for t in tenants} == {
            "enterprise",
            "growth",
            "starter",
        }, name


def test_the_budget_day_fits_its_tenants_day_with_15_percent_to_spare(
    real: ModuleType,
) -> None:
    draft = real.azure_code_day(real.random.Random("azure_code_day-1"), 1.0)
    globex = draft.data["tenants"]["globex"]
    asked = sum(n for _, pool, _, n in draft.rows if pool.startswith("globex"))
    assert asked / globex["daily_token_budget"] == pytest.approx(0.85, abs=1e-6)
    assert globex["hard_cap"] is True
    last = max(t for t, pool, _, _ in draft.rows if pool.startswith("globex"))
    assert last < 11 * 3600  # all of it early in the UTC day
