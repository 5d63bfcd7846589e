"""The bundled examples as a user meets them: `agentdash example ...`, and `simulate`, `plan`
and `--version` with nothing to point at. Real processes; the wheel's own run of these is in
tests/agentdash/test_wheel.py."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest

from agentdash import cli, terminal
from agentdash.example import BACKTEST_CONFIG, BACKTEST_TRACE, EXAMPLE_CONFIG, OBSERVATIONS
from agentdash.tui import app
from controller.core.config import load_config
from tests.support.cli import ROOT, run

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("name", "bundled"),
    [("config", EXAMPLE_CONFIG), ("backtest", BACKTEST_CONFIG), ("observations", OBSERVATIONS)],
)
def test_example_prints_the_bundled_file_as_it_is(name: str, bundled: Path) -> None:
    result = run("example", name)
    assert result.returncode == 0, result.stderr
    assert result.stdout == bundled.read_text()


def test_the_printed_config_is_one_to_start_from(tmp_path: Path) -> None:
    mine = tmp_path / "agentdash.yaml"
    mine.write_text(run("example", "config").stdout)
    result = run("check-config", mine)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{mine}: OK: 5 pools, 3 tenants, 3 tiers")


def test_example_names_what_it_has_when_asked_for_something_else() -> None:
    result = run("example", "kubeconfig")
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "config|backtest|observations|trace" in result.stderr


def test_the_top_level_examples_are_the_bundled_ones() -> None:
    """README.md's commands name examples/...; they must run what the wheel ships."""
    for bundled in (EXAMPLE_CONFIG, BACKTEST_CONFIG, BACKTEST_TRACE, OBSERVATIONS):
        assert (ROOT / "examples" / bundled.name).read_bytes() == bundled.read_bytes()
    assert load_config(BACKTEST_CONFIG).pools.keys() == load_config(EXAMPLE_CONFIG).pools.keys()


def test_simulate_with_nothing_given_replays_the_bundled_trace() -> None:
    result = run("simulate", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    tasks = len(BACKTEST_TRACE.read_text().splitlines())
    assert report["tasks"] == tasks
    assert report["policies"].keys() == {"agentdash", "keda", "hpa"}


def test_a_generated_trace_runs_on_the_bundled_fleet(tmp_path: Path) -> None:
    made = run("simulate", "--generate", "bursty", "--hours", "0.5", "--seed", "3")
    assert made.returncode == 0, made.stderr
    trace = tmp_path / "trace.jsonl"
    trace.write_text(made.stdout)
    result = run("simulate", "--trace", trace, "--policy", "agentdash")
    assert result.returncode == 0, result.stderr
    tasks = len(made.stdout.splitlines())
    assert result.stdout.startswith(f"{trace}: {tasks:,} tasks over 5 pools")


def test_simulate_with_a_config_of_ones_own_needs_its_trace() -> None:
    result = run("simulate", "--config", EXAMPLE_CONFIG)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "agentdash: simulate --config FILE needs --trace FILE "
        "(or --generate SHAPE to write a trace)\n"
    )


def test_plan_with_nothing_given_decides_for_the_bundled_fleet() -> None:
    result = run("plan")
    assert result.returncode == 0, result.stderr
    pools = [d["pool"] for d in json.loads(result.stdout)["decisions"]]
    assert pools == list(load_config(EXAMPLE_CONFIG).pools)


def test_plan_with_a_config_of_ones_own_needs_its_observations() -> None:
    result = run("plan", "--config", EXAMPLE_CONFIG)
    assert result.returncode == 2
    assert result.stderr == "agentdash: plan --config FILE needs --observations FILE\n"


def test_plan_help_says_the_bundled_observations_go_with_the_bundled_config() -> None:
    """The help's default is the one `plan --config FILE` alone keeps (it needs its own)."""
    result = run("plan", "--help")
    assert result.returncode == 0, result.stderr
    said = (
        "--observations FILE the pools' readings, JSON (default with no --config: the bundled "
        "example's; needed with --config)"
    )
    assert said in " ".join(result.stdout.split())


def test_version_is_the_installed_one() -> None:
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"agentdash {version('agentdash')}\n"


def test_a_dashboard_without_its_styles_says_so_in_one_line_and_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a broken install used to do: a page about app.tcss, then exit 0."""
    monkeypatch.setattr(app, "PACKAGE", tmp_path / "site-packages" / "agentdash")
    monkeypatch.setattr(terminal, "need_a_terminal", lambda instead: None)  # as in a terminal
    code = cli.main(["--config", str(EXAMPLE_CONFIG), "--cluster", "simulated"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == (
        f"agentdash: the dashboard's styles are missing from {app.PACKAGE}: reinstall agentdash\n"
    )
