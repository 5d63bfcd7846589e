"""`agentdash queues` names the tasks a stream holds that no consumer reads: a pool renamed
or given another subject leaves its old tasks in the work-queue stream, kept and never run,
and nothing said so."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from nats.aio.client import Client

from tests.support.queues_cli import in_one_stream, run_queues, state

pytestmark = pytest.mark.e2e


@pytest.fixture
def bare_config(bare_config: Path) -> Path:
    """The example fleet with its pools' tasks in one stream: the command's report of one."""
    return in_one_stream(bare_config)


OLD = "globex-triage"
"""The pool the operator renames,"""
NEW = "globex-sorting"
"""and its new name."""


def renamed(config: Path) -> Path:
    """The config with OLD renamed, as an operator renames a pool: a new subject and a new
    consumer, the old ones left behind."""
    data = yaml.safe_load(config.read_text())
    pool = data["pools"].pop(OLD)
    pool["queue"]["consumer"] = NEW
    data["pools"][NEW] = pool
    path = config.with_name("renamed.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


async def give_the_stream_new_subject(nc: Client) -> None:
    """As `agentdash queues` asks of a pool whose subject the stream lacks."""
    js = nc.jetstream()
    stream = (await js.stream_info("AGENT_TASKS")).config
    stream.subjects = [*(stream.subjects or []), f"agent_tasks.{NEW}"]
    await js.update_stream(stream)


async def test_tasks_on_a_subject_no_consumer_reads_are_named_with_what_to_do(
    bare_config: Path, nc: Client
) -> None:
    assert (await run_queues(bare_config, "--apply")).returncode == 0
    for n in range(3):
        await nc.publish(f"agent_tasks.{OLD}", f"task {n}".encode())
    await nc.publish("agent_tasks.acme-research", b"read by its pool")
    await nc.flush()
    new = renamed(bare_config)
    await give_the_stream_new_subject(nc)
    assert (await run_queues(new, "--apply")).returncode == 0  # the old consumer reads them

    await nc.jetstream().delete_consumer("AGENT_TASKS", OLD)
    result = await run_queues(new)

    assert result.returncode == 1
    assert state(result.stdout, "stream AGENT_TASKS") == "differs, left as it is"
    assert (
        f"    3 tasks on subjects no consumer reads, kept and never run: agent_tasks.{OLD} (3); "
        "publish them again on a pool's subject, or purge them (nats stream purge AGENT_TASKS "
        "--subject SUBJECT)\n"
    ) in result.stdout
    info = await nc.jetstream().stream_info("AGENT_TASKS")
    assert info.state.messages == 4  # nothing was touched


async def test_a_consumer_made_by_hand_that_reads_them_leaves_the_stream_in_place(
    bare_config: Path, nc: Client
) -> None:
    assert (await run_queues(bare_config, "--apply")).returncode == 0
    await nc.publish(f"agent_tasks.{OLD}", b"task")
    await nc.flush()
    new = renamed(bare_config)
    await give_the_stream_new_subject(nc)
    js = nc.jetstream()
    await js.delete_consumer("AGENT_TASKS", OLD)
    await js.add_consumer("AGENT_TASKS", durable_name="drain", filter_subject=f"agent_tasks.{OLD}")

    result = await run_queues(new, "--apply")

    assert result.returncode == 0, result.stdout
    assert state(result.stdout, "stream AGENT_TASKS") == "in place"
    assert "no consumer reads" not in result.stdout
