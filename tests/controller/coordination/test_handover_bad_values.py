"""Values in the leader's handover buckets (the time rules' history, the spend forecast, each
tenant's tokens today) that a restore refuses are counted where an operator looks: in
`agentdash_bad_messages_total{source="handover"}` on the /metrics of the process that read them,
0 until one is, beside the restore's one warning line."""

from __future__ import annotations

import logging
import re

import pytest
import yaml
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from agentdash.opening import RuntimeOptions
from agentdash.runtime import Runtime, start
from controller.coordination import spend_handover, usage_handover
from controller.coordination.handover import BUCKET, HistoryHandover
from controller.coordination.history_docs import key_of
from controller.coordination.spend_handover import SpendHandover
from controller.core.config import parse_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support.cli import EXAMPLE

FORGED = {
    (BUCKET, key_of("acme-research")): b"\xff\xfe not UTF-8",
    (spend_handover.BUCKET, spend_handover.key_of("acme")): b'{"v": 1, "at": "soon"}',
    (spend_handover.BUCKET, usage_handover.key_of("globex")): b"{not json",
}
"""One forged value in each: a pool's history, a tenant's spend, a tenant's tokens today."""


def refused(runtime: Runtime) -> float:
    exposed = runtime.metrics.render().decode()
    found = re.search(r'^agentdash_bad_messages_total\{source="handover"\} (\S+)$', exposed, re.M)
    assert found is not None
    return float(found[1])


async def test_values_a_restore_refuses_are_counted_in_the_metrics(
    nats_server: NatsServer, nc: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="agentdash.handover")
    example = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, example)
    for made in (HistoryHandover(nc, example), SpendHandover(nc, example)):
        await made.start()  # the buckets, as a leader makes them
    js = nc.jetstream()
    for (bucket, key), value in FORGED.items():
        await (await js.key_value(bucket)).put(key, value)

    runtime = await start(example, RuntimeOptions(nats_server.url, cluster="simulated"))
    try:
        # Every process reads the tokens today as it starts: the forged count is one.
        assert refused(runtime) == 1
        await runtime.loop.tick()
        assert runtime.loop.leading
        # Leading, it reads all three buckets: each forged value once more.
        assert refused(runtime) == 1 + len(FORGED)
    finally:
        await runtime.stop()
    said = [r.getMessage() for r in caplog.records if r.name == "agentdash.handover"]
    assert len(said) == 4, said  # a line a restore: the count adds none
    assert not [r for r in caplog.records if r.name == "agentdash.bad_messages"]


async def test_a_process_that_read_no_bad_value_serves_the_count_at_0(
    nats_server: NatsServer, nc: Client
) -> None:
    example = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, example)
    runtime = await start(example, RuntimeOptions(nats_server.url, cluster="simulated"))
    try:
        await runtime.loop.tick()
        assert refused(runtime) == 0
    finally:
        await runtime.stop()


async def test_a_process_starts_and_leads_over_values_nested_too_deep(
    nats_server: NatsServer, nc: Client
) -> None:
    """JSON nested deeper than json.loads follows, in each bucket: refused and counted as any
    bad value (it raised RecursionError through the restore: no process could start)."""
    example = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, example)
    for made in (HistoryHandover(nc, example), SpendHandover(nc, example)):
        await made.start()
    js = nc.jetstream()
    for bucket, key in FORGED:
        await (await js.key_value(bucket)).put(key, b"[" * 1000)

    runtime = await start(example, RuntimeOptions(nats_server.url, cluster="simulated"))
    try:
        await runtime.loop.tick()
        assert runtime.loop.leading
        assert refused(runtime) == 1 + len(FORGED)
    finally:
        await runtime.stop()
