"""`agentdash demo --nats-url` on a server that holds someone's tasks or an agentdash fleet's
state: nothing of theirs is taken, deleted or spent. Found by a stranger: on a server whose
AGENT_TASKS held 3 tasks of theirs, the demo's workers terminated them ("not tasks (set
aside) 3"), which on a work-queue stream deletes them."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from nats.aio.client import Client
from nats.js.api import PubAck
from nats.js.client import JetStreamContext

from agentdash.nats_server import NatsServer
from tests.support import eventually
from tests.support.cli import AGENTDASH

pytestmark = pytest.mark.e2e

SUBJECT = "agent_tasks_acme.acme-research"
"""A pool subject of the bundled fleet the demo runs."""


def demo(url: str, *more: str) -> list[str]:
    return [AGENTDASH, "demo", "--headless", "--nats-url", url, "--cold-start", "0.2", *more]


async def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=90, check=False
    )


async def refusal(url: str) -> str:
    """What the demo says as it refuses the server at `url` (exit 1)."""
    result = await run(demo(url, "--duration", "2"))
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stderr


async def test_a_stream_holding_someones_tasks_is_refused_and_keeps_them(
    nats_server: NatsServer, nc: Client
) -> None:
    js = nc.jetstream()
    await js.add_stream(name="AGENT_TASKS_ACME", subjects=["agent_tasks_acme.>"])
    for k in range(3):
        await js.publish(SUBJECT, f'{{"prompt": "theirs {k}"}}'.encode())
    assert await refusal(nats_server.url) == (
        f"agentdash: NATS at {nats_server.url}: stream AGENT_TASKS_ACME holds 3 messages, which "
        "the demo's workers would take as their own; give the demo an empty stream or a server "
        "of its own\n"
    )
    assert (await js.stream_info("AGENT_TASKS_ACME")).state.messages == 3
    assert await js.consumers_info("AGENT_TASKS_ACME") == []


async def test_a_server_where_agentdash_keeps_its_state_is_refused(
    nats_server: NatsServer, nc: Client
) -> None:
    """A fleet's daemon or dashboard keeps its buckets here: the demo's token reports would
    spend its tenants' budgets (the bundled fleet's tenant names are common ones)."""
    js = nc.jetstream()
    await js.create_key_value(bucket="agentdash_overrides")
    assert await refusal(nats_server.url) == (
        f"agentdash: NATS at {nats_server.url}: agentdash already keeps its state here (the "
        "agentdash_overrides bucket): the demo's made-up tasks and token reports would mix "
        "with that fleet's; give the demo a server of its own\n"
    )
    assert "AGENT_TASKS_ACME" not in [s.config.name for s in await js.streams_info()]


async def stream_made(js: JetStreamContext) -> bool:
    """Whether the demo has made acme's stream (a message published before would go nowhere)."""
    return "AGENT_TASKS_ACME" in [s.config.name for s in await js.streams_info()]


async def test_a_message_not_the_demos_published_while_it_runs_is_left_queued(
    nats_server: NatsServer, nc: Client
) -> None:
    js = nc.jetstream()
    out, theirs = await demo_with_a_message(
        nats_server, js, b'{"prompt": "theirs"}', "--duration", "6", "--speed", "2"
    )
    assert "lost 0" in out
    assert "not demo tasks (left queued) 1" in out
    kept = await js.get_msg("AGENT_TASKS_ACME", theirs.seq)
    assert kept.data == b'{"prompt": "theirs"}'


async def test_a_drain_ends_with_the_demos_tasks_and_leaves_a_message_not_the_demos_queued(
    nats_server: NatsServer, nc: Client
) -> None:
    """The drain waited for a message no demo worker takes: its whole wait (300 s at speed
    1), then "drain: queues not empty ... stopping" though every demo task was done."""
    js = nc.jetstream()
    out, theirs = await demo_with_a_message(
        nats_server, js, b"not a task", "--duration", "10", "--speed", "20", "--drain"
    )
    assert "drain:" not in out, out
    assert "still queued 0, lost 0" in out
    assert "not demo tasks (left queued) 1" in out
    assert (await js.get_msg("AGENT_TASKS_ACME", theirs.seq)).data == b"not a task"


async def demo_with_a_message(
    nats_server: NatsServer, js: JetStreamContext, body: bytes, *flags: str
) -> tuple[str, PubAck]:
    """`agentdash demo FLAGS` on the shared server, with `body` published on its subject once
    its stream is made: what it printed (it exited 0), and the message's ack."""
    command = demo(nats_server.url, *flags)
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        await eventually(lambda: stream_made(js), timeout=30, every=0.05)
        theirs = await js.publish(SUBJECT, body)
        output, errors = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, errors.decode()
    return output.decode(), theirs
