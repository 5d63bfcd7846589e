"""A nats-server started with a config file of its own (users, tokens, TLS)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from agentdash.nats_server import nats_server_binary


class SecuredNats:
    """A nats-server child started with `-c FILE`: what NatsServer does, plus a config."""

    def __init__(self, tmp: Path, settings: str, scheme: str = "nats") -> None:
        ports = tmp / "ports"
        ports.mkdir()
        conf = tmp / "server.conf"
        conf.write_text(f'jetstream {{ store_dir: "{tmp / "js"}" }}\n{settings}\n')
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf), "-a", "127.0.0.1", "-p", "-1",
             "--ports_file_dir", str(ports)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not list(ports.glob("*.ports")) or not next(ports.glob("*.ports")).stat().st_size:
            assert self.process.poll() is None, self.process.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "nats-server did not start within 10 s"
            time.sleep(0.01)  # polling a child's start-up file, with a deadline
        address = json.loads(next(ports.glob("*.ports")).read_text())["nats"][0]
        self.url = f"{scheme}://127.0.0.1:{address.rsplit(':', 1)[1]}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
