"""`agentdash queues` on a NATS that takes the connection and then fails it: a server that
stalls, a user the account forbids to create. Each is one line, exit 1; a run that hangs
fails at its process's deadline (tests.support.queues_cli)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from agentdash.nats_server import NatsServer
from tests.support.certificates import make_certificates
from tests.support.cli import EXAMPLE
from tests.support.nats_auth import SecuredNats
from tests.support.nats_relay import stalling_relay
from tests.support.queues_cli import queues, run_queues

pytestmark = pytest.mark.e2e

DENIED = "$JS.API.STREAM.CREATE.>"


async def test_a_server_that_stalls_once_connected_is_one_line_within_the_wait(
    bare_config: Path, nats_server: NatsServer
) -> None:
    async with stalling_relay(int(nats_server.url.rsplit(":", 1)[1])) as url:
        result = await run_queues(bare_config, "--apply", "--nats-url", url)
    assert result.returncode == 1
    assert result.stderr == f"agentdash: JetStream at {url}: no answer within 5 s\n"
    assert result.stdout == ""


def with_pools(config: Path, extra: int) -> Path:
    """The config with `extra` more pools, more than are asked for at once: some requests
    are still to be sent when the server goes."""
    data = yaml.safe_load(config.read_text())
    template = data["pools"]["acme-research"]
    for n in range(extra):
        data["pools"][f"extra-{n}"] = {**template, "deployment": {"namespace": "agents",
                                       "name": f"extra-{n}"}, "queue": {"stream": "AGENT_TASKS",
                                       "consumer": f"extra-{n}"}}  # fmt: skip
    grown = config.with_name("grown.yaml")
    grown.write_text(yaml.safe_dump(data))
    return grown


async def test_a_server_that_dies_once_connected_is_one_line_not_a_traceback(
    bare_config: Path, nats_server: NatsServer
) -> None:
    """Its connections reset, the one open and each one opened again: nats.py keeps the
    reset for the close, which raised it past the one line."""
    grown = await asyncio.to_thread(with_pools, bare_config, 40)
    port = int(nats_server.url.rsplit(":", 1)[1])
    async with stalling_relay(port, "reset", on=b"$JS.API.CONSUMER.") as url:
        result = await run_queues(grown, "--apply", "--nats-url", url)
    assert result.returncode == 1
    assert result.stderr == f"agentdash: JetStream at {url}: no answer within 5 s\n"


@pytest.fixture
def denying_server(tmp_path: Path) -> Iterator[SecuredNats]:
    """A user of a JetStream account who may read streams and consumers but not make one."""
    user = f'{{user: ops, password: pw, permissions: {{publish: {{deny: ["{DENIED}"]}}}}}}'
    server = SecuredNats(tmp_path, f"accounts {{ A {{ jetstream: enabled, users: [{user}] }} }}")
    try:
        yield server
    finally:
        server.stop()


def test_a_user_not_allowed_to_create_is_told_so_not_a_timeout(
    tmp_path: Path, denying_server: SecuredNats
) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nats"] = {"url": denying_server.url, "user": "ops", "password": "pw"}
    config = tmp_path / "agentdash.yaml"
    config.write_text(yaml.safe_dump(data))

    listed = queues(config)  # reading is allowed
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.endswith("8 missing\n--apply creates what is missing\n")

    # Its requests wait an hour for an answer: it ends at the refusal, or at the deadline.
    result = queues(config, "--apply", request_wait=3600)
    assert result.returncode == 1
    assert result.stderr == (
        f"agentdash: JetStream at {denying_server.url}: the server forbids this user: "
        'permissions violation for publish to "$js.api.stream.create.agent_tasks_acme" '
        "(agentdash's user must be allowed JetStream's API, $JS.API.>; a tenant's worker or "
        "a producer is not)\n"
    )  # nats.py hands on the server's words in lower case
    assert result.stdout == ""


@pytest.mark.parametrize("where", ["flag", "config", "environment"])
def test_a_wrong_password_in_the_url_names_the_url_not_the_configs_credentials(
    tmp_path: Path, denying_server: SecuredNats, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The config names no credentials: the URL's are the ones refused, and the line says
    where it came from (an operator who set AGENTDASH_NATS_URL gave no --nats-url)."""
    url = denying_server.url.replace("nats://", "nats://ops:wrong@")
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nats"] = {"url": url if where == "config" else "nats://127.0.0.1:1"}
    config = tmp_path / "agentdash.yaml"
    config.write_text(yaml.safe_dump(data))
    monkeypatch.delenv("AGENTDASH_NATS_URL", raising=False)
    if where == "environment":
        monkeypatch.setenv("AGENTDASH_NATS_URL", url)

    result = queues(config, *(["--nats-url", url] if where == "flag" else []))
    assert result.returncode == 2
    field = {
        "config": f"{config}: nats.url",
        "flag": "--nats-url",
        "environment": "--nats-url (or AGENTDASH_NATS_URL)",
    }[where]
    shown = denying_server.url.replace("nats://", "nats://ops:***@")
    assert result.stderr == (
        f"agentdash: {field}: expected a user and password (or a token) that NATS at {shown} "
        "accepts: Authorization Violation\n"
    )


def test_a_run_over_tls_prints_the_report_and_nothing_on_stderr(tmp_path: Path) -> None:
    """asyncio warned on stderr at each close of a TLS connection nats.py had upgraded (its
    stream protocol asks to stay half open, which TLS cannot): a line after every report."""
    files = make_certificates(tmp_path)
    tls = f'tls {{ cert_file: "{files["server.pem"]}", key_file: "{files["server.key"]}" }}'
    server = SecuredNats(tmp_path, tls, "tls")
    try:
        data = yaml.safe_load(EXAMPLE.read_text())
        data["nats"] = {"url": server.url, "tls": {"ca_file": str(files["ca.pem"])}}
        config = tmp_path / "agentdash.yaml"
        config.write_text(yaml.safe_dump(data))
        result = queues(config, "--apply")
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("3 streams, 5 consumers: 8 created\n")
    assert result.stderr == ""


@pytest.fixture
def small_accounts(tmp_path: Path) -> Iterator[SecuredNats]:
    """Two accounts whose JetStream limits are below what a stream asks for by default: few
    consumers (user `few`), little file storage (user `little`)."""
    user = "users: [{user: %s, password: pw}]"
    few = f"FEW {{ jetstream: {{max_file: 10G, max_consumers: 20}}, {user % 'few'} }}"
    little = f"LITTLE {{ jetstream: {{max_file: 1G, max_consumers: 2000}}, {user % 'little'} }}"
    server = SecuredNats(tmp_path, f"accounts {{ {few}\n{little} }}")
    try:
        yield server
    finally:
        server.stop()


def test_a_stream_beyond_the_accounts_limits_says_which_limit_and_what_to_change(
    tmp_path: Path, small_accounts: SecuredNats
) -> None:
    def run_as(user: str, *args: str) -> list[str]:
        data = yaml.safe_load(EXAMPLE.read_text())
        data["nats"] = {"url": small_accounts.url.replace("nats://", f"nats://{user}:pw@")}
        config = tmp_path / f"{user}.yaml"
        config.write_text(yaml.safe_dump(data))
        result = queues(config, "--apply", *args)
        assert result.returncode == 1, result.stderr
        return result.stdout.splitlines()[:3:2]

    assert run_as("few", "--max-bytes", "512M") == [
        "stream AGENT_TASKS_ACME: failed",
        "    the server refused: maximum consumers limit reached (the stream asks room for "
        "1000 consumers; the account's JetStream allows 20 in all: raise its max_consumers)",
    ]
    assert run_as("little") == [  # 8G, by default
        "stream AGENT_TASKS_ACME: failed",
        "    the server refused: insufficient storage resources available (the stream asks "
        "for 8G; the account's JetStream has 1,000,000,000 bytes of file storage left: "
        "--max-bytes of at most that, or a larger max_file)",
    ]
