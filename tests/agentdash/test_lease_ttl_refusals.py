"""A --lease-ttl a Kubernetes Lease cannot keep: the Lease keeps whole seconds and its holder
gives up 1 s of them for clocks that differ, so a short TTL leaves a renewal too little time
to land (at 1 s, a traceback: the lease could not be made). Refused in one line naming the
file and the field, exit 2, before anything is contacted (no NATS, no cluster runs here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentdash.cli import main
from agentdash.opening import RuntimeOptions, check_lease_ttl
from controller.core.config import load_config
from tests.support.mistakes import edited, exit_code

LEASE = {"kubernetes__lease": {"namespace": "agentdash"}}


def config_file(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "agentdash.yaml"
    path.write_text(edited(**changes))
    return path


@pytest.mark.parametrize("ttl", ["1", "2", "2.9"])
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
        f"agentdash: {path}: kubernetes.lease: expected --lease-ttl (or AGENTDASH_LEASE_TTL) of "
        f"at least 3 s with a Kubernetes Lease, got {ttl}: the Lease keeps whole seconds and "
        "gives up 1 s of them for clocks that differ, which leaves a renewal too little time "
        "to land before it lapses\n"
    )


@pytest.mark.parametrize(
    ("changes", "cluster", "ttl"),
    [(LEASE, "kubernetes", 3.0), (LEASE, "kubernetes", 10.0), ({}, "kubernetes", 1.0),
     (LEASE, "simulated", 1.0)],
    ids=["3 s", "the default", "the NATS lease", "no cluster: the NATS lease"],
)  # fmt: skip
def test_a_lease_ttl_the_lease_can_keep_is_taken(
    tmp_path: Path, changes: dict[str, object], cluster: str, ttl: float
) -> None:
    config = load_config(config_file(tmp_path, **changes))
    check_lease_ttl(config, RuntimeOptions(cluster=cluster, lease_ttl=ttl))
