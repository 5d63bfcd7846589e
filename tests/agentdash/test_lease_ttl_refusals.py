"""A --lease-ttl a Kubernetes Lease cannot keep: the Lease keeps whole seconds, rounded up,
and its holder gives up 1 s of them for clocks that differ, so a TTL that gives it under 3 s
leaves a renewal too little time to land (at 1 s, a traceback: the lease could not be made).
Refused in one line naming the file and the field, exit 2, before anything is contacted (no
NATS, no cluster runs here). A TTL that rounds up to 3 s is taken, and so is any TTL for a
process that never holds the Lease (a --read-only dashboard): it only reads who does."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentdash.cli import main
from agentdash.opening import RuntimeOptions, check_lease_ttl
from controller.core.config import load_config
from tests.support.cli import outcome, run_without_kube_setup
from tests.support.mistakes import edited, exit_code

LEASE = {"kubernetes__lease": {"namespace": "agentdash"}}


def config_file(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "agentdash.yaml"
    path.write_text(edited(**changes))
    return path


@pytest.mark.parametrize("ttl", ["1", "1.5", "2"])
@pytest.mark.parametrize("given", ["flag", "environment"])
def test_a_lease_ttl_too_short_for_a_kubernetes_lease_is_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    ttl: str,
    given: str,
) -> None:
    path = config_file(tmp_path, **LEASE)
    argv = ["--controller-only", "--config", str(path)]
    if given == "flag":
        argv += ["--lease-ttl", ttl]
    else:
        monkeypatch.setenv("AGENTDASH_LEASE_TTL", ttl)
    code = exit_code(lambda: main(argv))
    assert code == 2
    assert capsys.readouterr().err == (
        f"agentdash: {path}: kubernetes.lease: expected --lease-ttl (or AGENTDASH_LEASE_TTL) "
        f"above 2 s with a Kubernetes Lease, got {ttl}: the Lease keeps it in whole seconds, "
        "rounded up, and its holder needs at least 3, since it gives up 1 s of them for clocks "
        "that differ, which leaves a renewal too little time to land before it lapses\n"
    )


@pytest.mark.e2e
@pytest.mark.parametrize("ttl", ["2.01", "2.5", "2.9"])
@pytest.mark.parametrize("given", ["flag", "environment"])
def test_a_lease_ttl_that_rounds_up_to_3_s_is_taken_by_the_daemon(
    tmp_path: Path, ttl: str, given: str
) -> None:
    """The Lease gets 3 s, as at --lease-ttl 3: the daemon goes on to its next check, the
    kubeconfig (none here), before anything is contacted."""
    path = config_file(tmp_path, **LEASE)
    argv = ["--controller-only", "--config", str(path)]
    environ = {"AGENTDASH_LEASE_TTL": ttl} if given == "environment" else {}
    result = run_without_kube_setup(
        tmp_path, *argv, *(["--lease-ttl", ttl] if given == "flag" else []), **environ
    )
    assert result.returncode == 2
    assert result.stderr.startswith("agentdash: no kubeconfig found at "), result.stderr
    assert "lease-ttl" not in result.stderr


@pytest.mark.parametrize(
    "argv",
    [["--read-only"], [], ["--dry-run"]],
    ids=["a --read-only dashboard", "a dashboard that follows", "a --dry-run dashboard"],
)
def test_a_dashboard_that_never_holds_the_lease_takes_any_lease_ttl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """It goes on to its next check: a terminal to draw on (none under pytest)."""
    path = config_file(tmp_path, **LEASE)
    code, _, err = outcome(capsys, "--config", str(path), "--lease-ttl", "1", *argv)
    assert code == 2
    assert err.startswith("agentdash: the dashboard needs a terminal"), err


def test_a_dashboard_that_leads_is_held_to_the_daemons_lease_ttl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(tmp_path, **LEASE)
    code, _, err = outcome(capsys, "--config", str(path), "--lease-ttl", "2", "--lead")
    assert code == 2
    assert err.startswith(f"agentdash: {path}: kubernetes.lease: expected --lease-ttl"), err


@pytest.mark.parametrize(
    ("changes", "cluster", "ttl"),
    [(LEASE, "kubernetes", 2.5), (LEASE, "kubernetes", 3.0), (LEASE, "kubernetes", 10.0),
     ({}, "kubernetes", 1.0), (LEASE, "simulated", 1.0)],
    ids=["2.5 s: 3 s", "3 s", "the default", "the NATS lease", "no cluster: the NATS lease"],
)  # fmt: skip
def test_a_lease_ttl_the_lease_can_keep_is_taken(
    tmp_path: Path, changes: dict[str, object], cluster: str, ttl: float
) -> None:
    config = load_config(config_file(tmp_path, **changes))
    check_lease_ttl(config, RuntimeOptions(cluster=cluster, lease_ttl=ttl))
