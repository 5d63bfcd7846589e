"""deploy/nats-permissions.conf on a real nats-server: agentdash runs with its user, a
tenant's worker can take tasks and report its own usage and busy pods, and nothing else: not
the lease, not the overrides, not the audit, not the decisions, not the event history, not
another tenant's usage or pods."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
import yaml

from agentdash.nats_server import nats_server_binary
from agentdash.runtime import Runtime, RuntimeOptions, start
from controller.coordination.lease import BUCKET as LEASE_BUCKET
from controller.coordination.lease import KEY as LEASE_KEY
from controller.coordination.shared import BUCKET, KEY
from controller.core.config import Config, parse_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually
from tests.support.cli import EXAMPLE

pytestmark = pytest.mark.e2e

CONF = Path(__file__).resolve().parents[3] / "deploy" / "nats-permissions.conf"
PASSWORDS = {"agentdash": "controller-secret", "worker-acme": "worker-secret",
             "producer": "producer-secret"}  # fmt: skip


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[int]:
    """A nats-server with the permissions file; its client port."""
    ports = tmp_path / "ports"
    ports.mkdir()
    env = {**os.environ, "AGENTDASH_PASSWORD": PASSWORDS["agentdash"],
           "WORKER_ACME_PASSWORD": PASSWORDS["worker-acme"],
           "PRODUCER_PASSWORD": PASSWORDS["producer"]}  # fmt: skip
    process = subprocess.Popen(
        [nats_server_binary(), "-c", str(CONF), "-a", "127.0.0.1", "-p", "-1",
         "-sd", str(tmp_path / "jetstream"), "--ports_file_dir", str(ports)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not any(f.stat().st_size for f in ports.glob("*.ports")):
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "nats-server did not start within 10 s"
            time.sleep(0.01)  # polling a child's start-up file, with a deadline
        address = json.loads(next(ports.glob("*.ports")).read_text())["nats"][0]
        yield int(address.rsplit(":", 1)[1])
    finally:
        process.terminate()
        process.wait(timeout=10)


def url(port: int, user: str) -> str:
    return f"nats://{user}:{PASSWORDS[user]}@127.0.0.1:{port}"


@pytest.fixture
async def agentdash(guarded: int) -> AsyncIterator[tuple[Config, Runtime]]:
    example = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    admin = await nats.connect(url(guarded, "agentdash"))
    await ensure_queues(admin, example)
    await admin.close()
    runtime = await start(example, RuntimeOptions(url(guarded, "agentdash"), cluster="simulated"))
    try:
        yield example, runtime
    finally:
        await runtime.stop()


async def test_a_worker_reports_usage_and_cannot_touch_the_lease_or_the_overrides(
    guarded: int, agentdash: tuple[Config, Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    config, runtime = agentdash
    await runtime.loop.tick()
    assert runtime.loop.leading  # agentdash may hold the lease
    assert runtime.loop.problems == {}  # ... and read every queue
    runtime.loop.store.pin("acme-research", 2)  # ... and write overrides, audited
    await runtime.shared.flush()
    kv = await runtime.nc.jetstream().key_value(BUCKET)
    lease = await runtime.nc.jetstream().key_value(LEASE_BUCKET)
    overrides_before = (await kv.get(KEY)).value

    refused: list[str] = []

    async def error(exc: Exception) -> None:
        refused.append(str(exc))

    producer = await nats.connect(url(guarded, "producer"))
    worker = await nats.connect(url(guarded, "worker-acme"), error_cb=error)
    try:
        await producer.jetstream().publish(config.subject("acme-research"), b'{"id": "t1"}')
        tasks = await worker.jetstream().pull_subscribe_bind("acme-research", "AGENT_TASKS")
        [task] = await tasks.fetch(1, timeout=5)
        report = {"tenant": "acme", "pool": "acme-research", "tokens": 1234, "work_s": 3.0}
        await worker.publish("agentdash.usage.acme", json.dumps(report).encode())
        busy = {"tenant": "acme", "pool": "acme-research", "pod": "acme-research-1", "busy": 0}
        await worker.publish("agentdash.busy.acme", json.dumps(busy).encode())
        await task.ack_sync()  # a worker can do its whole job

        forbidden = {
            f"$KV.{LEASE_BUCKET}.{LEASE_KEY}": b"mallory",
            f"$KV.{BUCKET}.{KEY}": b'{"paused": true}',
            "agentdash.audit": b'{"who": "mallory"}',
            "agentdash.decisions": b'{"leader": "mallory"}',
            "agentdash.events": b'{"type": "action", "ts": 1, "who": "mallory"}',
            "agentdash.usage.globex": json.dumps({**report, "tenant": "globex"}).encode(),
            "agentdash.busy.globex": json.dumps({**busy, "tenant": "globex"}).encode(),
            "$JS.API.STREAM.DELETE.KV_agentdash_leader": b"",
        }
        for subject, body in forbidden.items():
            await worker.publish(subject, body)
        await worker.flush()

        def all_refused() -> bool:
            said = " ".join(refused)  # nats.py lowercases the server's error
            return all(f'"{s.lower()}"' in said for s in forbidden)

        await eventually(all_refused)
        assert all("permissions violation" in line for line in refused)
        await eventually(lambda: runtime.usage.usage(time.time()).tokens_today["acme"] == 1234)
        assert runtime.usage.usage(time.time()).tokens_today["globex"] == 0
        assert runtime.busy is not None  # ... and which of its own pods is idle
        names = ["acme-research-1"]
        await eventually(lambda: runtime.busy.idle("acme-research", names, time.time()) == {*names})
        assert (await lease.get(LEASE_KEY)).value == runtime.lease.holder.encode()
        assert (await kv.get(KEY)).value == overrides_before
        assert await runtime.lease.renew()  # still the leader
        publisher = runtime.publisher
        assert publisher is not None
        await eventually(lambda: publisher.published > 0 and publisher.waiting == 0)  # history
        assert "permissions violation" not in caplog.text  # agentdash itself lacked nothing
    finally:
        await worker.close()
        await producer.close()
