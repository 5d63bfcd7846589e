"""`agentdash queues` on a stream that exists without a pool's subject: a consumer made there
would never receive a task, so it is not made, and the report says which subject to add."""

from __future__ import annotations

from pathlib import Path

import nats.js.errors
import pytest
import yaml
from nats.aio.client import Client
from nats.js.api import AckPolicy, RetentionPolicy

from tests.support.queues_cli import consumer, in_one_stream, run_queues, state

pytestmark = pytest.mark.e2e


@pytest.fixture
def bare_config(bare_config: Path) -> Path:
    """The example fleet with its pools' tasks in one stream: the command's report of one."""
    return in_one_stream(bare_config)


NEW = "initech-new"


def with_new_pool(config: Path) -> Path:
    """The config with one more pool on the stream the others use."""
    data = yaml.safe_load(config.read_text())
    data["pools"][NEW] = {
        "tenant": "initech",
        "deployment": {"namespace": "agents", "name": NEW},
        "queue": {"stream": "AGENT_TASKS", "consumer": NEW},
        "max_replicas": 3,
    }
    grown = config.with_name("grown.yaml")
    grown.write_text(yaml.safe_dump(data))
    return grown


async def test_a_pool_added_to_a_stream_without_its_subject_gets_no_consumer_until_it_has_it(
    bare_config: Path, nc: Client
) -> None:
    assert (await run_queues(bare_config, "--apply")).returncode == 0
    grown = with_new_pool(bare_config)

    result = await run_queues(grown, "--apply")
    assert result.returncode == 1
    assert state(result.stdout, "stream AGENT_TASKS") == "differs, left as it is"
    assert state(result.stdout, consumer(NEW)) == "failed"
    lines = result.stdout.splitlines()
    new_at = lines.index(f"{consumer(NEW)}: failed")
    assert lines[new_at + 2] == (
        f"    not created: stream AGENT_TASKS does not take agent_tasks.{NEW}, so no task "
        f"would reach it: add agent_tasks.{NEW} to the stream's subjects (nats stream edit "
        "AGENT_TASKS), then run this again"
    )
    assert "1 stream, 6 consumers: 5 in place, 1 differs, 1 failed\n" in result.stdout
    js = nc.jetstream()
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.consumer_info("AGENT_TASKS", NEW)

    # Without --apply it is missing, and says it waits for the stream.
    listed = await run_queues(grown)
    assert state(listed.stdout, consumer(NEW)) == "missing"
    assert (f"    stream AGENT_TASKS does not take agent_tasks.{NEW}: --apply creates this "
            "consumer once it does") in listed.stdout.splitlines()  # fmt: skip

    stream = (await js.stream_info("AGENT_TASKS")).config
    stream.subjects = [*(stream.subjects or []), f"agent_tasks.{NEW}"]
    await js.update_stream(stream)
    fixed = await run_queues(grown, "--apply")
    assert fixed.returncode == 0, fixed.stdout
    assert state(fixed.stdout, consumer(NEW)) == "created"
    info = await js.consumer_info("AGENT_TASKS", NEW)
    assert info.config.filter_subject == f"agent_tasks.{NEW}"


async def test_a_consumer_that_exists_on_a_subject_its_stream_lacks_is_said_to_get_nothing(
    bare_config: Path, nc: Client
) -> None:
    """Made by hand, or by an earlier agentdash: left as it is, its report says why no task
    reaches it, and the run fails until the stream takes its subject."""
    assert (await run_queues(bare_config, "--apply")).returncode == 0
    grown = with_new_pool(bare_config)
    await nc.jetstream().add_consumer(
        "AGENT_TASKS", durable_name=NEW, filter_subject=f"agent_tasks.{NEW}",
        ack_policy=AckPolicy.EXPLICIT, ack_wait=30.0, max_ack_pending=3, max_deliver=-1,
    )  # fmt: skip

    result = await run_queues(grown, "--apply")
    assert result.returncode == 1
    assert state(result.stdout, consumer(NEW)) == "in place"
    lines = result.stdout.splitlines()
    new_at = lines.index(f"{consumer(NEW)}: in place")
    assert lines[new_at + 2] == (
        f"    stream AGENT_TASKS does not take agent_tasks.{NEW}: no task reaches this "
        "consumer until it does"
    )


async def test_a_hand_made_consumer_that_takes_the_pools_subjects_is_named(
    bare_config: Path, nc: Client
) -> None:
    """A work-queue stream gives each subject to one consumer: the server refuses the pools'
    own, and each refusal names the consumer in the way, for the operator to delete."""
    js = nc.jetstream()
    await js.add_stream(name="AGENT_TASKS", subjects=["agent_tasks.>"],
                        retention=RetentionPolicy.WORK_QUEUE)  # fmt: skip
    await js.add_consumer("AGENT_TASKS", durable_name="legacy", filter_subject="agent_tasks.>")

    result = await run_queues(bare_config, "--apply")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    research_at = lines.index(f"{consumer('acme-research')}: failed")
    assert lines[research_at + 2] == (
        "    the server refused: filtered consumer not unique on workqueue stream "
        "(consumer legacy takes agent_tasks.>)"
    )
    assert "1 stream, 5 consumers: 1 differs, 5 failed\n" in result.stdout
