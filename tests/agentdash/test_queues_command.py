"""`agentdash queues` as an operator runs it: a real process against a real nats-server."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats.js.errors
import pytest
import yaml
from nats.aio.client import Client
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConsumerLimits,
    StreamSource,
)

from agentdash.nats_server import NatsServer
from controller.core.config import load_config
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.queue_plan import STREAM_BYTES
from tests.support import eventually, free_port
from tests.support.cli import AGENTDASH, EXAMPLE
from tests.support.daemon import Daemon, scaled
from tests.support.loops import publish
from tests.support.nats_auth import SecuredNats
from tests.support.queues_cli import consumer, in_one_stream, queues, run_queues, state

pytestmark = pytest.mark.e2e


@pytest.fixture
def bare_config(bare_config: Path) -> Path:
    """The example fleet with its pools' tasks in one stream: the command's report of one."""
    return in_one_stream(bare_config)


POOLS = ["acme-research", "acme-support", "globex-coder", "globex-triage", "initech-summarize"]


async def test_on_an_empty_server_everything_is_missing_and_nothing_is_made(
    bare_config: Path, nc: Client
) -> None:
    result = await run_queues(bare_config)
    assert result.returncode == 0, result.stderr
    assert state(result.stdout, "stream AGENT_TASKS") == "missing"
    assert "subjects agent_tasks.acme-research, agent_tasks.acme-support," in result.stdout
    for pool in POOLS:
        assert state(result.stdout, consumer(pool)) == "missing"
    assert ("pull; filter agent_tasks.globex-coder; ack explicit; ack wait 30 s; "
            "max ack pending 16; max deliver unlimited") in result.stdout  # fmt: skip
    assert "1 stream, 5 consumers: 6 missing\n--apply creates what is missing" in result.stdout
    with pytest.raises(nats.js.errors.NotFoundError):
        await nc.jetstream().stream_info("AGENT_TASKS")


async def test_apply_creates_it_all_and_a_second_apply_changes_nothing(
    bare_config: Path, nc: Client
) -> None:
    result = await run_queues(bare_config, "--apply")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("1 stream, 5 consumers: 6 created\n")
    js = nc.jetstream()
    stream = (await js.stream_info("AGENT_TASKS")).config
    assert stream.retention == RetentionPolicy.WORK_QUEUE
    assert stream.storage == StorageType.FILE
    assert stream.subjects == [f"agent_tasks.{pool}" for pool in POOLS]
    coder = await js.consumer_info("AGENT_TASKS", "globex-coder")
    assert coder.config.durable_name == "globex-coder"
    assert coder.config.filter_subject == "agent_tasks.globex-coder"
    assert coder.config.deliver_subject is None  # a pull consumer
    assert coder.config.ack_policy == AckPolicy.EXPLICIT
    assert coder.config.ack_wait == 30.0
    assert coder.config.max_ack_pending == 16  # max_replicas 8 x concurrency 2
    assert coder.config.max_deliver == -1

    again = await run_queues(bare_config, "--apply")
    assert again.returncode == 0, again.stderr
    assert again.stdout.endswith("1 stream, 5 consumers: 6 in place\n")
    assert coder.created is not None
    assert (await js.consumer_info("AGENT_TASKS", "globex-coder")).created == coder.created


async def test_a_larger_max_bytes_on_a_stream_that_exists_is_reported_as_not_applied(
    bare_config: Path, nc: Client
) -> None:
    made = await run_queues(bare_config, "--apply")  # the default 8G
    assert made.returncode == 0, made.stderr

    result = await run_queues(bare_config, "--max-bytes", "1T")
    assert result.returncode == 0, result.stderr  # a smaller bound is enough
    stream = result.stdout.split("\n")[:3]
    assert stream[0] == "stream AGENT_TASKS: in place"
    assert "max bytes 8G, discard new" in stream[1]  # what the stream holds, not 1T
    assert stream[2] == ("    max_bytes: 8G, not the 1T asked: left as it is "
                         "(agentdash changes nothing that exists)")  # fmt: skip
    assert "1T" not in stream[1]
    config = (await nc.jetstream().stream_info("AGENT_TASKS")).config
    assert config.max_bytes == STREAM_BYTES


async def test_a_hand_made_consumer_with_another_filter_is_reported_and_left_alone(
    bare_config: Path, nc: Client
) -> None:
    js = nc.jetstream()
    await js.add_stream(name="AGENT_TASKS", subjects=["agent_tasks.>"],
                        retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
                        max_bytes=STREAM_BYTES, discard=DiscardPolicy.NEW)  # fmt: skip
    await js.add_consumer("AGENT_TASKS", durable_name="acme-research",
                          filter_subject="agent_tasks.research", ack_policy=AckPolicy.EXPLICIT,
                          ack_wait=30.0, max_ack_pending=10, max_deliver=-1)  # fmt: skip

    result = await run_queues(bare_config, "--apply")
    assert result.returncode == 1
    assert state(result.stdout, "stream AGENT_TASKS") == "in place"  # its wildcard takes all
    assert state(result.stdout, consumer("acme-research")) == "differs, left as it is"
    lines = result.stdout.splitlines()
    research_at = lines.index(f"{consumer('acme-research')}: differs, left as it is")
    assert lines[research_at + 2 :][:2] == [
        "    filter_subject: agent_tasks.research -> agent_tasks.acme-research",
        f"{consumer('acme-support')}: created",
    ]
    assert "1 stream, 5 consumers: 4 created, 1 in place, 1 differs\n" in result.stdout
    assert "agentdash changes nothing that exists" in result.stdout
    research = await js.consumer_info("AGENT_TASKS", "acme-research")
    assert research.config.filter_subject == "agent_tasks.research"
    assert (await js.consumer_info("AGENT_TASKS", "acme-support")).config.max_ack_pending == 6

    again = await run_queues(bare_config, "--apply")
    assert again.returncode == 1  # still there, still different: nothing was forced
    assert "1 stream, 5 consumers: 5 in place, 1 differs\n" in again.stdout


async def test_another_ack_policy_and_retention_are_reported_line_by_line(
    bare_config: Path, nc: Client
) -> None:
    js = nc.jetstream()
    await js.add_stream(name="AGENT_TASKS", subjects=[f"agent_tasks.{p}" for p in POOLS],
                        retention=RetentionPolicy.LIMITS, storage=StorageType.MEMORY)  # fmt: skip
    await js.add_consumer("AGENT_TASKS", durable_name="acme-support",
                          filter_subject="agent_tasks.acme-support", ack_policy=AckPolicy.NONE,
                          max_deliver=5)  # fmt: skip

    result = await run_queues(bare_config)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    stream_at = lines.index("stream AGENT_TASKS: differs, left as it is")
    assert lines[stream_at + 2 : stream_at + 4] == [
        "    retention: limits -> workqueue",
        "    storage: memory -> file",
    ]
    assert "    max_bytes: unlimited -> 8G" in lines  # full, a bounded stream refuses new tasks
    support_at = lines.index(f"{consumer('acme-support')}: differs, left as it is")
    assert lines[support_at + 2 : support_at + 7] == [
        "    ack_policy: none -> explicit",
        "    ack_wait: 0 s -> 30 s",  # what the server keeps for a consumer that takes no acks
        "    max_ack_pending: unlimited -> 6",
        "    max_deliver: 5 -> unlimited",
        f"{consumer('globex-coder')}: missing",
    ]

    await run_queues(bare_config, "--apply")
    info = await js.stream_info("AGENT_TASKS")
    assert info.config.retention == RetentionPolicy.LIMITS
    assert (await js.consumer_info("AGENT_TASKS", "acme-support")).config.ack_policy == (
        AckPolicy.NONE
    )


async def test_a_consumer_that_would_vanish_or_strip_tasks_differs_and_no_task_is_lost(
    bare_config: Path, nc: Client
) -> None:
    """A stream whose consumers the server deletes when idle, and a consumer that delivers
    only headers: each is named, nothing is changed, and every task waiting stays."""
    js = nc.jetstream()
    idle = StreamConsumerLimits(inactive_threshold=3600.0)
    await js.add_stream(name="AGENT_TASKS", subjects=["agent_tasks.>"],
                        retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
                        max_bytes=STREAM_BYTES, discard=DiscardPolicy.NEW,
                        consumer_limits=idle)  # fmt: skip
    await js.add_consumer("AGENT_TASKS", durable_name="acme-research",
                          filter_subject="agent_tasks.acme-research",
                          ack_policy=AckPolicy.EXPLICIT, ack_wait=30.0, max_ack_pending=10,
                          max_deliver=-1, headers_only=True)  # fmt: skip
    await publish(nc, "agent_tasks.acme-research", 20)

    result = await run_queues(bare_config, "--apply")
    assert result.returncode == 1
    assert state(result.stdout, "stream AGENT_TASKS") == "differs, left as it is"
    assert "    consumer_limits.inactive_threshold: 3600 s -> none" in result.stdout.splitlines()
    assert state(result.stdout, consumer("acme-research")) == "differs, left as it is"
    lines = result.stdout.splitlines()
    research_at = lines.index(f"{consumer('acme-research')}: differs, left as it is")
    assert lines[research_at + 2 : research_at + 4] == [
        "    headers_only: yes -> no",
        "    inactive_threshold: 3600 s -> none",  # the stream's limit, given to the consumer
    ]
    assert (await js.stream_info("AGENT_TASKS")).state.messages == 20
    research = await js.consumer_info("AGENT_TASKS", "acme-research")
    assert (research.num_pending, research.config.headers_only) == (20, True)


async def test_a_stream_that_expires_or_dedups_tasks_and_a_paused_consumer_differ(
    bare_config: Path, nc: Client
) -> None:
    """Tasks a producer may give a TTL, a day's duplicate window, a stream fed from another,
    a consumer paused for an hour: each is named, --apply changes none, and no task goes."""
    js = nc.jetstream()
    await js.add_stream(name="UPSTREAM", subjects=["upstream.>"])
    await js.add_stream(name="AGENT_TASKS", subjects=["agent_tasks.>"],
                        retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
                        max_bytes=STREAM_BYTES, discard=DiscardPolicy.NEW, allow_msg_ttl=True,
                        duplicate_window=86400.0,
                        sources=[StreamSource(name="UPSTREAM")])  # fmt: skip
    until = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await js.add_consumer("AGENT_TASKS", ConsumerConfig(
        durable_name="acme-research", filter_subject="agent_tasks.acme-research",
        ack_policy=AckPolicy.EXPLICIT, ack_wait=30.0, max_ack_pending=10, max_deliver=-1,
        pause_until=until))  # fmt: skip
    await publish(nc, "agent_tasks.acme-research", 20)

    result = await run_queues(bare_config, "--apply")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    stream_at = lines.index("stream AGENT_TASKS: differs, left as it is")
    assert lines[stream_at + 2 : stream_at + 5] == [
        "    allow_msg_ttl: yes -> no",
        "    duplicate_window: 86400 s -> 120 s",
        "    sources: stream UPSTREAM -> none",
    ]
    research_at = lines.index(f"{consumer('acme-research')}: differs, left as it is")
    assert lines[research_at + 2] == f"    pause_until: {until} -> none"
    assert state(result.stdout, consumer("acme-support")) == "created"
    info = await js.stream_info("AGENT_TASKS")
    assert info.state.messages == 20
    assert (info.config.allow_msg_ttl, info.config.duplicate_window) == (True, 86400.0)
    research = await js.consumer_info("AGENT_TASKS", "acme-research")
    assert (research.num_pending, research.paused) == (20, True)


async def test_what_the_server_refuses_to_create_is_one_line_each_and_exit_1(
    bare_config: Path, nc: Client
) -> None:
    """Another stream already holds the subjects: JetStream will not make a second."""
    await nc.jetstream().add_stream(name="LEGACY", subjects=["agent_tasks.>"])
    result = await run_queues(bare_config, "--apply")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "stream AGENT_TASKS: failed"
    assert lines[2] == (
        "    the server refused: subjects overlap with an existing stream "
        "(stream LEGACY takes agent_tasks.acme-research, agent_tasks.acme-support, "
        "agent_tasks.globex-coder, agent_tasks.globex-triage, agent_tasks.initech-summarize)"
    )
    assert state(result.stdout, consumer("acme-research")) == "failed"
    research_at = lines.index(f"{consumer('acme-research')}: failed")
    assert lines[research_at + 2] == "    not created: stream AGENT_TASKS was not created"
    assert result.stdout.endswith("1 stream, 5 consumers: 6 failed\n")


def test_unreachable_nats_is_one_line_with_the_reason_and_exit_1(tmp_path: Path) -> None:
    """Nothing listens on the port: the line says the connection was refused (not the
    'TimeoutError' of the wait that nats.py's retries ran out)."""
    url = f"nats://127.0.0.1:{free_port()}"
    result = queues(EXAMPLE, "--nats-url", url)
    assert result.returncode == 1
    assert result.stderr == f"agentdash: cannot reach NATS at {url}: Connection refused\n"
    assert result.stdout == ""


def test_a_nats_host_that_does_not_resolve_says_so_with_the_password_hidden() -> None:
    result = queues(EXAMPLE, "--nats-url", "nats://agentdash:s3cret@nosuch.invalid:4222")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "agentdash: cannot reach NATS at nats://agentdash:***@nosuch.invalid:4222: "
        "the host does not resolve ("
    )
    assert result.stderr.count("\n") == 1
    assert "s3cret" not in result.stderr


def test_a_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("max_replicas: 8", "max_replicas: -8"))
    result = queues(bad)
    assert result.returncode == 2
    assert result.stderr.startswith(f"agentdash: {bad}")
    assert "pools.globex-coder.max_replicas" in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[SecuredNats]:
    server = SecuredNats(tmp_path, "authorization { token: t0ken }")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(("token", "code"), [("t0ken", 0), ("wrong", 2)])
def test_the_configs_credentials_reach_a_server_that_demands_them(
    tmp_path: Path, token_server: SecuredNats, token: str, code: int
) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nats"] = {"url": "nats://127.0.0.1:1", "token": token}
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    result = queues(path, "--apply", "--nats-url", token_server.url)  # the flag wins over nats.url
    assert result.returncode == code, result.stderr
    if code == 0:
        assert result.stdout.endswith("3 streams, 5 consumers: 8 created\n")
    else:
        assert result.stderr.startswith(f"agentdash: {path}: nats.token: expected credentials")


async def test_the_lag_source_and_the_daemon_read_queues_made_this_way(
    bare_config: Path, nc: Client
) -> None:
    assert (await run_queues(bare_config, "--apply")).returncode == 0
    config = load_config(bare_config)
    await publish(nc, config.subject("acme-research"), 3)
    stats = await JetStreamLagSource(nc, config).read()
    assert stats["acme-research"].pending == 3
    assert stats["acme-research"].stale is None

    daemon = Daemon(bare_config)
    try:
        health = await daemon.wait_health(lambda h: h["status"] == 200)
        assert health["stale_count"] == 0  # every pool's consumer found
        await eventually(lambda: bool(scaled(daemon, "acme-research")), timeout=15)
        assert scaled(daemon, "acme-research")[0]["reasons"][0]["rule"] == "demand"
    finally:
        daemon.stop()


async def test_the_demo_runs_on_queues_made_this_way_and_loses_nothing(
    bare_config: Path, nats_server: NatsServer, tmp_path: Path
) -> None:
    assert (await run_queues(bare_config, "--apply")).returncode == 0
    events = tmp_path / "events.jsonl"
    demo = await asyncio.to_thread(
        subprocess.run,
        [AGENTDASH, "demo", "--headless", "--config", str(bare_config),
         "--nats-url", nats_server.url, "--duration", "12", "--drain", "--events", str(events),
         "--seed", "3", "--speed", "4", "--cold-start", "0.3"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    summary = json.loads(events.read_text().splitlines()[-1])
    assert summary["published"] > 10
    assert summary["completed"] == summary["published"]
    assert summary["lost"] == 0
    after = await run_queues(bare_config)
    assert after.returncode == 0  # the demo made nothing of its own beside them
    assert after.stdout.endswith("6 in place\n")
