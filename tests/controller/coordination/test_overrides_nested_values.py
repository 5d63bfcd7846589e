"""What the overrides' keeper reads beside the overrides, forged nested deeper than json.loads
follows (1,000 "["): the leaders' `logged` mark in the bucket and the last audit record. Each
is read as any value that is not what agentdash writes (no mark; not a record of this
revision), and the process starts: both raised RecursionError out of the start, so no daemon
or dashboard could start while they were there."""

from __future__ import annotations

import json

import yaml
from nats.aio.client import Client

from agentdash.nats_server import NatsServer
from agentdash.opening import RuntimeOptions
from agentdash.runtime import start
from controller.coordination.audit_trail import AUDIT_SUBJECT, AuditTrail
from controller.coordination.logged_mark import LOGGED_KEY
from controller.coordination.overrides_bucket import BUCKET, KEY
from controller.core.config import parse_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support.cli import EXAMPLE
from tests.support.shared_kv import bucket

DEEP = b"[" * 1000


async def starts_and_ticks(nats_server: NatsServer, nc: Client) -> None:
    example = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    await ensure_queues(nc, example)
    runtime = await start(example, RuntimeOptions(nats_server.url, cluster="simulated"))
    try:
        await runtime.loop.tick()
        assert runtime.loop.leading
    finally:
        await runtime.stop()


async def test_a_process_starts_over_a_logged_mark_nested_too_deep(
    nats_server: NatsServer, nc: Client
) -> None:
    kv = await bucket(nc)
    await kv.put(KEY, json.dumps({"pins": {}}).encode())
    await kv.put(LOGGED_KEY, DEEP)
    await starts_and_ticks(nats_server, nc)


async def test_a_process_starts_over_an_audit_record_nested_too_deep(
    nats_server: NatsServer, nc: Client
) -> None:
    kv = await bucket(nc)
    await kv.put(KEY, b"garbage")  # a write it must audit as foreign, unless the last record has
    await AuditTrail(nc.jetstream(), BUCKET).open()
    await nc.jetstream().publish(AUDIT_SUBJECT, DEEP)
    await starts_and_ticks(nats_server, nc)
