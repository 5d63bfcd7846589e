"""A nats-server running deploy/nats-accounts.conf as shipped, with a password per user."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

from agentdash.nats_accounts import password_variable
from agentdash.nats_server import nats_server_binary
from tests.support.cli import ROOT

SHIPPED = ROOT / "deploy" / "nats-accounts.conf"


def password(variable: str) -> str:
    """Each user's password, as the server reads it from `variable`."""
    return f"{variable.lower()}-secret"


class AccountsServer:
    """nats-server -c deploy/nats-accounts.conf on a free loopback port."""

    def __init__(self, tmp: Path, conf: Path = SHIPPED) -> None:
        ports = tmp / "ports"
        ports.mkdir()
        variables = set(re.findall(r"\$([A-Z0-9_]+_PASSWORD)", conf.read_text()))
        env = {**os.environ, **{variable: password(variable) for variable in variables}}
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf), "-a", "127.0.0.1", "-p", "-1",
             "-sd", str(tmp / "jetstream"), "--ports_file_dir", str(ports)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not any(f.stat().st_size for f in ports.glob("*.ports")):
            assert self.process.poll() is None, self.process.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "nats-server did not start within 10 s"
            time.sleep(0.01)  # polling a child's start-up file, with a deadline
        address = json.loads(next(ports.glob("*.ports")).read_text())["nats"][0]
        self.port = int(address.rsplit(":", 1)[1])

    def url(self, user: str) -> str:
        return f"nats://{user}:{password(password_variable(user))}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
