"""Who the audit names: the account the process runs as, as `id -un` says, even when the
environment names nobody (a systemd service, `env -i`, some containers)."""

from __future__ import annotations

import subprocess

import pytest

from controller.coordination.overrides import OverrideStore, operator
from tests.support.factories import config, pool

pytestmark = pytest.mark.e2e


def test_the_audit_names_the_account_even_without_user_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True)
    monkeypatch.delenv("USER", raising=False)
    monkeypatch.delenv("LOGNAME", raising=False)
    assert operator() == account.stdout.strip()
    store = OverrideStore(config({"research": pool("acme")}))
    assert store.pin("research", 1).who == account.stdout.strip()


def test_the_account_wins_over_what_the_environment_claims(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True)
    monkeypatch.setenv("USER", "someone-else")
    assert operator() == account.stdout.strip()
