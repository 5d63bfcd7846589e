"""`agentdash queues` where the daemon's environment is set (its container, or a shell that
exported AGENTDASH_NATS_URL for the daemon, as docs/operating.md's trial does): it reaches the
NATS the daemon reaches, as the daemon logs in there, unless --nats-url says otherwise."""

from __future__ import annotations

import pytest

from tests.support.cli import EXAMPLE, outcome

pytestmark = pytest.mark.usefixtures("no_variables")

UNREACHABLE = "nats://agentdash:secret@127.0.0.1:1"


def test_queues_reaches_the_nats_the_daemon_s_variable_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It went to the config's nats.url instead, and with the config's identity (none) was
    refused there: 'Authorization Violation', nothing said of the variable."""
    monkeypatch.setenv("AGENTDASH_NATS_URL", UNREACHABLE)
    code, out, err = outcome(capsys, "queues", "--config", str(EXAMPLE))
    assert (code, out) == (1, "")
    assert (
        err
        == "agentdash: cannot reach NATS at nats://agentdash:***@127.0.0.1:1: Connection refused\n"
    )


def test_a_nats_url_given_beats_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENTDASH_NATS_URL", "nats://127.0.0.1:2")
    code, _, err = outcome(capsys, "queues", "--config", str(EXAMPLE), "--nats-url", UNREACHABLE)
    assert code == 1
    assert "127.0.0.1:1:" in err


def test_a_bad_variable_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENTDASH_NATS_URL", "127.0.0.1:4222")
    code, out, err = outcome(capsys, "queues", "--config", str(EXAMPLE))
    assert (code, out) == (2, "")
    assert err.startswith("agentdash: AGENTDASH_NATS_URL: expected a URL like nats://HOST:PORT")
    assert err.count("\n") == 1


def test_the_nats_config_it_prints_connects_nowhere_and_reads_no_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--nats-config refuses a --nats-url it would ignore; the variable is not one given."""
    monkeypatch.setenv("AGENTDASH_NATS_URL", "not a url")
    code, out, err = outcome(capsys, "queues", "--config", str(EXAMPLE), "--nats-config")
    assert (code, err) == (0, "")
    assert "accounts" in out
