"""A stream that holds several tenants' tasks is warned of, by check-config and at start-up:
a producer for one tenant can drop another's tasks by reusing their Nats-Msg-Id, or fill the
stream. A warning, not a refusal: an install whose producers trust each other may want one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import free_port
from tests.support.cli import outcome, run

pytestmark = pytest.mark.e2e

WARNING = (
    "agentdash: warning: stream TASKS holds the tasks of tenants acme and globex: a producer "
    "for one can drop another's tasks by reusing their Nats-Msg-Id, or fill the stream; give "
    "each tenant a stream of its own (queue.stream)"
)


def config(tmp_path: Path, streams: dict[str, str]) -> Path:
    """Three pools, two of acme's and one of globex's, each in the stream given."""
    tenants = {"acme-research": "acme", "acme-support": "acme", "globex-coder": "globex"}
    pools = "".join(
        f"  {pool}: {{tenant: {tenants[pool]}, deployment: {{name: {pool}}}, "
        f"queue: {{stream: {stream}, consumer: {pool}}}}}\n"
        for pool, stream in streams.items()
    )
    path = tmp_path / "agentdash.yaml"
    path.write_text(
        "tiers: {gold: {priority: 1}}\n"
        "tenants: {acme: {tier: gold}, globex: {tier: gold}}\n"
        f"nats: {{url: 'nats://127.0.0.1:{free_port()}'}}\n"
        f"pools:\n{pools}"
    )
    return path


def test_check_config_warns_of_a_stream_two_tenants_share_and_passes_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = config(
        tmp_path, {"acme-research": "TASKS", "acme-support": "TASKS", "globex-coder": "TASKS"}
    )
    code, out, err = outcome(capsys, "check-config", str(shared))
    assert code == 0
    assert out.startswith(f"{shared}: OK: 3 pools, 2 tenants")
    assert err.splitlines() == [WARNING]


def test_one_tenants_pools_may_share_a_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = config(
        tmp_path,
        {"acme-research": "TASKS_ACME", "acme-support": "TASKS_ACME", "globex-coder": "TASKS"},
    )
    code, _, err = outcome(capsys, "check-config", str(own))
    assert (code, err) == (0, "")


def test_the_daemon_warns_of_a_shared_stream_as_it_starts(tmp_path: Path) -> None:
    shared = config(
        tmp_path, {"acme-research": "TASKS", "acme-support": "TASKS", "globex-coder": "TASKS"}
    )
    result = run("--controller-only", "--config", shared, "--cluster", "simulated")
    lines = result.stderr.splitlines()
    assert lines[0] == WARNING
    assert lines[-1].startswith("agentdash: cannot reach NATS at")  # it went on to connect


def test_queues_warns_of_it_on_stderr_and_writes_the_accounts_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`agentdash queues --nats-config > accounts.conf`: the warning reaches the terminal,
    the file gets only the server's configuration."""
    streams = {"acme-research": "TASKS", "acme-support": "TASKS", "globex-coder": "TASKS"}
    shared = config(tmp_path, streams)
    code, out, err = outcome(capsys, "queues", "--config", str(shared), "--nats-config")
    assert code == 0
    assert err.splitlines() == [WARNING]
    assert "warning" not in out
    assert "accounts" in out
