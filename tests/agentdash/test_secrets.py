"""Secrets never printed: a password in a NATS URL is hidden wherever the URL is said (the
command's error line, the daemon's JSON log); a credentials file that group or others can
open is warned of, as ssh does, and agentdash goes on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nkeys
import pytest
import yaml

from agentdash.cli import main
from agentdash.secret_files import open_secret_files
from controller.core.config import parse_config
from tests.support import free_port
from tests.support.cli import AGENTDASH, EXAMPLE

pytestmark = pytest.mark.e2e  # each starts the command, which waits for NATS in vain
PASSWORD = "S3cret-pw"


def daemon(
    tmp_path: Path, *flags: str, nats: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The daemon on the example config, its `nats:` section replaced, no NATS there."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nats"] = nats or {"url": f"nats://127.0.0.1:{free_port()}"}
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    return subprocess.run([AGENTDASH, "--controller-only", "--config", str(path),
                           "--cluster", "simulated", *flags],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


@pytest.mark.parametrize("given", ["--nats-url", "nats.url"])
def test_a_password_in_the_nats_url_is_never_printed(tmp_path: Path, given: str) -> None:
    port = free_port()
    url = f"nats://agentdash:{PASSWORD}@127.0.0.1:{port}"
    if given == "--nats-url":
        result = daemon(tmp_path, "--nats-url", url)
    else:
        result = daemon(tmp_path, nats={"url": url})
    assert result.returncode == 1
    said = f"cannot reach NATS at nats://agentdash:***@127.0.0.1:{port}: "
    assert result.stderr.startswith(f"agentdash: {said}")
    (error,) = [
        line for line in map(json.loads, result.stdout.splitlines()) if line["type"] == "error"
    ]
    assert error["message"].startswith(said)
    assert PASSWORD not in result.stdout + result.stderr


def test_a_bad_nats_url_flag_hides_its_password(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--nats-url", f"nats://agentdash:{PASSWORD}@host:99999", "--config", "x.yaml"])
    err = capsys.readouterr().err
    assert "got 'nats://agentdash:***@host:99999'" in err
    assert PASSWORD not in err


@pytest.mark.parametrize(("mode", "warned"), [(0o644, True), (0o600, False)])
def test_a_seed_file_open_to_others_is_warned_of_and_the_daemon_goes_on(
    tmp_path: Path, mode: int, warned: bool
) -> None:
    seed = tmp_path / "agentdash.nk"
    seed.write_bytes(nkeys.encode_seed(bytes(range(32)), nkeys.PREFIX_BYTE_USER))
    seed.chmod(mode)
    nats = {"url": f"nats://127.0.0.1:{free_port()}", "nkey_seed_file": str(seed)}
    result = daemon(tmp_path, nats=nats)
    lines = result.stderr.splitlines()
    warning = f"agentdash: warning: {seed} is open to group or others (mode 0644); chmod 600 it"
    assert lines[:-1] == ([warning] if warned else [])
    assert lines[-1].startswith("agentdash: cannot reach NATS at")  # it went on to connect


def test_a_folder_named_as_a_secret_file_is_not_warned_of_for_its_mode(tmp_path: Path) -> None:
    """A folder's 0755 is not a secret open to others: check-config notes that it cannot be
    read as the file, and says nothing of chmod."""
    folder = tmp_path / "creds"
    folder.mkdir(mode=0o755)
    config = parse_config(
        {**yaml.safe_load(EXAMPLE.read_text()), "nats": {"creds_file": str(folder)}}
    )
    assert open_secret_files(config) == []
