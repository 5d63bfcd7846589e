"""deploy/nats-accounts.conf on a real nats-server: agentdash has all it needs in its own
account, and a tenant's worker can take its pools' tasks, ack them and report its own usage
and busy pods from its account. (What a worker cannot do is proved by attack in
tests/attacks.)"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nats.js.errors
import pytest
import yaml

from agentdash.nats_accounts import render
from agentdash.opening import RuntimeOptions
from agentdash.runtime import Runtime, start
from controller.coordination.lease import BUCKET as LEASE_BUCKET
from controller.coordination.lease import KEY as LEASE_KEY
from controller.coordination.lease import NatsLease
from controller.coordination.overrides_bucket import BUCKET, KEY
from controller.core.config import Config, parse_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually
from tests.support.accounts import SHIPPED, AccountsServer
from tests.support.cli import EXAMPLE, ROOT
from tests.support.pages import blocks, section

pytestmark = pytest.mark.e2e

MIB = 1024**2
OPERATING = ROOT / "docs" / "operating.md"


@pytest.fixture
async def agentdash(accounts_server: AccountsServer) -> AsyncIterator[tuple[Config, Runtime]]:
    example = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    admin = await nats.connect(accounts_server.url("agentdash"))
    await ensure_queues(admin, example)
    await admin.close()
    runtime = await start(
        example, RuntimeOptions(accounts_server.url("agentdash"), cluster="simulated")
    )
    try:
        yield example, runtime
    finally:
        await runtime.stop()


def test_the_shipped_file_is_what_the_example_config_generates() -> None:
    example = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    assert SHIPPED.read_text() == render(example, EXAMPLE.name), (
        "regenerate: agentdash queues --config examples/agentdash.yaml --nats-config "
        "> deploy/nats-accounts.conf"
    )


async def test_a_worker_does_its_whole_job_and_agentdash_has_all_it_needs(
    accounts_server: AccountsServer,
    agentdash: tuple[Config, Runtime],
    caplog: pytest.LogCaptureFixture,
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

    async def told(exc: Exception) -> None:
        refused.append(str(exc))

    producer = await nats.connect(accounts_server.url("producer-acme"))
    worker = await nats.connect(accounts_server.url("worker-acme"), error_cb=told)
    try:
        ack = await producer.jetstream().publish(config.subject("acme-research"), b'{"id": "t1"}')
        assert ack.stream == "AGENT_TASKS_ACME"  # the producer is told its task is stored
        tasks = await worker.jetstream().pull_subscribe_bind("acme-research", "AGENT_TASKS_ACME")
        [task] = await tasks.fetch(1, timeout=5)
        assert task.data == b'{"id": "t1"}'
        report = {"tenant": "acme", "pool": "acme-research", "tokens": 1234, "work_s": 3.0}
        await worker.publish("agentdash.usage.acme", json.dumps(report).encode())
        busy = {"tenant": "acme", "pool": "acme-research", "pod": "acme-research-1", "busy": 0}
        await worker.publish("agentdash.busy.acme", json.dumps(busy).encode())
        await task.ack_sync()  # a worker can do its whole job

        # Refused (its user may publish only where its imports reach), and written in the
        # worker's own account they would reach nothing of agentdash's.
        elsewhere = {
            f"$KV.{LEASE_BUCKET}.{LEASE_KEY}": b"mallory",
            f"$KV.{BUCKET}.{KEY}": b'{"paused": true}',
            "agentdash.audit": b'{"who": "mallory"}',
            "agentdash.usage.globex": json.dumps({**report, "tenant": "globex"}).encode(),
            "$JS.API.STREAM.DELETE.KV_agentdash_leader": b"",
        }
        for subject, body in elsewhere.items():
            await worker.publish(subject, body)
        await worker.flush()
        # nats.py calls error_cb from a task of its own: the flush's PONG can come first.
        await eventually(lambda: len(refused) == len(elsewhere))
        assert all("permissions violation for publish" in said for said in refused)

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
        info = await runtime.nc.jetstream().consumer_info("AGENT_TASKS_ACME", "acme-research")
        assert info.num_pending == info.num_ack_pending == 0  # the task is done, not lost
        assert "permissions violation" not in caplog.text  # agentdash itself lacked nothing
    finally:
        await worker.close()
        await producer.close()


async def test_a_full_task_stream_refuses_new_tasks_keeps_the_queued_ones_and_agentdash_writes(
    tmp_path: Path,
) -> None:
    """Each task stream is bounded (here to 1 MiB: `--max-bytes 1M`) within an account sized
    for it and for agentdash's own buckets: when tasks fill it, the producer is told its
    publish failed, no queued task is dropped, and the lease and the overrides can still be
    written (with the account's whole disk open to the tasks, the lease could not renew)."""
    example = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    small = tmp_path / "small.conf"
    small.write_text(render(example, EXAMPLE.name, stream_bytes=MIB))
    server = AccountsServer(tmp_path, small)
    try:
        admin = await nats.connect(server.url("agentdash"))
        await ensure_queues(admin, example, max_bytes=MIB)
        producer = await nats.connect(server.url("producer-acme"))
        stored, refused = 0, ""
        while not refused and stored < 10_000:
            body = json.dumps({"id": stored, "prompt": "x" * 1000}).encode()
            try:
                await producer.jetstream().publish("agent_tasks_acme.acme-research", body)
                stored += 1
            except nats.js.errors.APIError as exc:
                refused = str(exc)
        assert "maximum bytes exceeded" in refused  # the stream's own limit, not the account's
        info = await admin.jetstream().stream_info("AGENT_TASKS_ACME")
        assert info.state.messages == stored  # every task told "stored" is still queued
        first = await admin.jetstream().get_msg("AGENT_TASKS_ACME", 1)
        assert json.loads(first.data)["id"] == 0
        lease = NatsLease(admin, holder="host:1_abc", ttl=10.0)
        await lease.start()
        assert await lease.renew()  # agentdash's own writes still land
        await producer.close()
        await admin.close()
    finally:
        server.stop()


async def test_the_worker_operating_md_shows_does_its_job_under_its_tenants_account(
    accounts_server: AccountsServer, agentdash: tuple[Config, Runtime], tmp_path: Path
) -> None:
    """The example a stranger copies: its tasks are done once each, every token it reports is
    counted, agentdash sees its pod idle, and SIGTERM with a task in hand finishes the task
    and exits 0."""
    config, runtime = agentdash
    worker = tmp_path / "worker.py"
    [code] = blocks(section(OPERATING, "## What a worker tells agentdash"), "python")
    worker.write_text(code)
    pod = "acme-research-5d8f7-x2v4q"
    env = {**os.environ, "NATS_URL": accounts_server.url("worker-acme"), "TENANT": "acme",
           "POOL": "acme-research", "STREAM": "AGENT_TASKS_ACME", "POD_NAME": pod}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(worker), env=env, stderr=asyncio.subprocess.PIPE
    )
    producer = await nats.connect(accounts_server.url("producer-acme"))
    try:
        for task in range(3):
            await producer.jetstream().publish(config.subject("acme-research"), b"%d" % task)

        def tokens() -> int:
            return runtime.usage.usage(time.time()).tokens_today["acme"]

        await eventually(lambda: tokens() == 3 * 1234)
        busy = runtime.busy
        assert busy is not None
        await eventually(lambda: busy.idle("acme-research", [pod], time.time()) == {pod})
        await producer.jetstream().publish(config.subject("acme-research"), b"3")
        await eventually(lambda: busy.idle("acme-research", [pod], time.time()) == set())
        process.send_signal(signal.SIGTERM)  # with the task in hand
        _, errors = await asyncio.wait_for(process.communicate(), timeout=10)
        assert process.returncode == 0, errors.decode()
        await eventually(lambda: tokens() == 4 * 1234)
        info = await runtime.nc.jetstream().consumer_info("AGENT_TASKS_ACME", "acme-research")
        assert info.num_pending == info.num_ack_pending == 0
        assert info.num_redelivered == 0  # each done once
        assert runtime.metrics.bad.counts["usage"] == runtime.metrics.bad.counts["busy"] == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await producer.close()


async def test_a_task_whose_agent_fails_at_once_is_given_back_without_spinning(
    accounts_server: AccountsServer, agentdash: tuple[Config, Runtime], tmp_path: Path
) -> None:
    """operating.md's worker with an agent that fails at once: the task waits before its
    next try and stays queued. Given back at once, it came straight back: 3,000 busy reports
    a second, agentdash deaf to the tenant's busy subject as to a flood, and a core spent."""
    config, runtime = agentdash
    [code] = blocks(section(OPERATING, "## What a worker tells agentdash"), "python")
    agent = "    await asyncio.sleep(0.2)  # your agent here\n"
    assert agent in code
    worker = tmp_path / "worker.py"
    worker.write_text(code.replace(agent, "    raise RuntimeError('the agent failed')\n"))
    env = {**os.environ, "NATS_URL": accounts_server.url("worker-acme"), "TENANT": "acme",
           "POOL": "acme-research", "STREAM": "AGENT_TASKS_ACME",
           "POD_NAME": "acme-research-5d8f7-x2v4q"}  # fmt: skip
    listener = await nats.connect(accounts_server.url("agentdash"))
    said: list[bytes] = []

    async def heard(msg: nats.aio.msg.Msg) -> None:
        said.append(msg.data)

    await listener.subscribe("agentdash.busy.acme", cb=heard)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(worker), env=env, stderr=asyncio.subprocess.PIPE
    )
    producer = await nats.connect(accounts_server.url("producer-acme"))
    try:
        await producer.jetstream().publish(config.subject("acme-research"), b"poison")
        await eventually(lambda: len(said) >= 3)  # idle at start, took it, gave it back
        await asyncio.sleep(2.0)  # a window to count the tries in, not a wait for a state
        assert len(said) < 10, f"{len(said)} busy reports: the task came straight back"
        info = await runtime.nc.jetstream().consumer_info("AGENT_TASKS_ACME", "acme-research")
        assert info.num_pending + info.num_ack_pending == 1  # still queued, for a later try
        assert runtime.metrics.bad.counts["flood"] == 0
        process.send_signal(signal.SIGTERM)
        _, errors = await asyncio.wait_for(process.communicate(), timeout=10)
        assert process.returncode == 0, errors.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await producer.close()
        await listener.close()
