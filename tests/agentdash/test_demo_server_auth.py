"""The demo's embedded nats-server is its user's alone: its port is on the loopback, which every
user of the machine reaches, so a client must present the token made for the run. The token is
in no command line (any local user reads /proc/PID/cmdline) and in no line the demo prints,
only in files that its user alone may read."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from agentdash.demo.fleet import DemoFleet, DemoOptions, load_demo_config
from agentdash.nats_server import CONFIG_FILE, NatsServer
from tests.support import eventually
from tests.support.cli import AGENTDASH, EXAMPLE
from tests.support.processes import alive, store_of

pytestmark = pytest.mark.e2e

REFUSED = {
    "no credentials": {},
    "a wrong token": {"auth_token": "not-the-token"},
    "an empty user": {"user": "", "pass": ""},
    "an empty token": {"auth_token": ""},
}
"""What another local user might present, as the CONNECT's fields."""
PEEK = (
    "SUB > 1\r\n"  # every message the demo's clients send one another
    "SUB _INBOX.peek 2\r\n"
    "PUB $JS.API.STREAM.NAMES _INBOX.peek 0\r\n\r\n"  # JetStream's streams: the queues
    "PING\r\n"
)


@pytest.fixture
async def demo() -> AsyncIterator[DemoFleet]:
    """The demo's fleet as `agentdash demo` starts it, on a server of its own, once it has
    published tasks: what is there for another user to read."""
    options = DemoOptions(load_demo_config(None), seed=3, duration=20, speed=4, cold_start=0.2)
    fleet = DemoFleet(options)
    await fleet.start()
    stop = asyncio.Event()
    runner = asyncio.create_task(fleet.run_loop(stop))
    try:
        await eventually(lambda: len(fleet.published) >= 3, timeout=30)
        yield fleet
    finally:
        stop.set()
        await runner
        await fleet.stop()


async def said_to(port: int, fields: dict[str, str]) -> bytes:
    """Everything the server sends a raw client that CONNECTs with `fields` and at once asks
    for every message and the streams' names, until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        info = json.loads((await reader.readline()).removeprefix(b"INFO "))
        assert info["auth_required"] is True
        connect = {"verbose": False, "pedantic": False, "headers": True, **fields}
        writer.write(f"CONNECT {json.dumps(connect)}\r\n{PEEK}".encode())
        await writer.drain()
        said = b""
        while chunk := await asyncio.wait_for(reader.read(4096), timeout=10):
            said += chunk
        return said
    finally:
        writer.close()


@pytest.mark.parametrize("fields", REFUSED.values(), ids=REFUSED.keys())
async def test_a_client_without_the_runs_token_is_refused_and_reads_nothing(
    demo: DemoFleet, fields: dict[str, str]
) -> None:
    assert demo.server is not None
    said = await said_to(demo.server.port, fields)
    assert said == b"-ERR 'Authorization Violation'\r\n"  # no PONG, no MSG: then closed


async def test_the_runs_token_reads_the_demos_queues(demo: DemoFleet) -> None:
    """As the same user attaches, with the URL from the file the demo names."""
    server = demo.server
    assert server is not None
    assert server.url_file is not None
    url = server.url_file.read_text().strip()
    assert server.token is not None
    assert server.token in url
    nc = await nats.connect(url, allow_reconnect=False)
    try:
        streams = await nc.jetstream().streams_info()
    finally:
        await nc.close()
    queues = {pool.queue.stream for pool in demo.config.pools.values()}
    assert {info.config.name for info in streams} >= queues


async def test_nats_py_without_the_token_is_told_authorization_violation(
    demo: DemoFleet,
) -> None:
    assert demo.server is not None
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(f"nats://127.0.0.1:{demo.server.port}", allow_reconnect=False)


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_token_is_in_no_command_line_and_in_files_only_its_user_reads() -> None:
    with NatsServer() as server:
        assert server.pid is not None
        assert server.token is not None
        command = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert server.token.encode() not in command
        assert private(server.store_dir / CONFIG_FILE)
        assert server.url_file is not None
        assert private(server.url_file)
        server.restart()  # the kill -9 the demo recovers from: the same token, still private
        assert server.token.encode() not in Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert server.url_file.read_text() == f"{server.url}\n"
        assert private(server.store_dir / CONFIG_FILE)
        log = (server.store_dir / "nats-server.log").read_text()
    assert server.token not in log


def test_the_demos_line_hides_the_token_and_names_the_file_to_attach_with(
    tmp_path: Path,
) -> None:
    """A real `agentdash demo` and a second agentdash (`queues`) of the same user attached
    to its server with the URL from the file its first line names: in the environment, not
    on the command line."""
    process = subprocess.Popen(
        [AGENTDASH, "demo", "--headless", "--duration", "600", "--cold-start", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = re.search(r"nats://\*\*\*@127\.0\.0\.1:\d+ \(pid (\d+)\); the URL with its "
                          r"token is in (\S+)$", first)  # fmt: skip
        assert found, first
        pid, url_file = int(found.group(1)), Path(found.group(2))
        assert url_file.parent == store_of(pid)
        assert private(url_file)
        url = url_file.read_text().strip()
        token = url.removeprefix("nats://").split("@")[0]
        assert len(token) >= 32
        assert token.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        attached = attach(url)
        assert attached.returncode == 0, attached.stderr
        assert "stream AGENT_TASKS_ACME: in place" in attached.stdout
        bare = attach(f"nats://{url.split('@')[1]}")
        assert bare.returncode == 2
        assert bare.stderr.endswith(": Authorization Violation\n"), bare.stderr
        assert token not in bare.stderr
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert token not in first + out + err
    assert not alive(pid)


def attach(url: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "AGENTDASH_NATS_URL": url}
    return subprocess.run(
        [AGENTDASH, "queues", "--config", str(EXAMPLE)],
        capture_output=True, text=True, env=environment, timeout=60, check=False,
    )  # fmt: skip
