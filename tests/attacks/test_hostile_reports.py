"""worker-acme sends, on its own usage and busy subjects, what a worker running an LLM's output
might: names made of terminal escapes, NUL bytes and bidi overrides, numbers JSON should not
carry (NaN, Infinity, 1e308, 400 digits, negative), nesting past any parser's depth, bytes
that are not UTF-8, a key given twice, a report for globex's pool, one report over acme's
share. Each is counted or spent as it says, and none of it reaches the log, the audit,
/healthz or /metrics raw.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from nats.aio.client import Client

from controller.sources.usage import HELD
from tests.support import eventually
from tests.support.daemon import Daemon
from tests.support.escapes import UNPRINTABLE, strings
from tests.support.shared_kv import audit_records

pytestmark = pytest.mark.e2e

HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\x9b31m\u202e[b]bold[/b]\x00"
SHOWN = "evil\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202e[b]bold[/b]\\x00"
USAGE = {"tenant": "acme", "pool": "acme-research", "tokens": 5, "work_s": 1.0}
BUSY = {"tenant": "acme", "pool": "acme-research", "pod": "acme-research-1", "busy": 0}


def said(base: dict[str, Any], **fields: Any) -> bytes:
    return json.dumps({**base, **fields}).encode()


def literal(base: dict[str, Any], field: str, text: bytes) -> bytes:
    """`base` with `field`'s value written as `text`, as json.dumps would never write it."""
    return said(base, **{field: "@"}).replace(b'"@"', text)


JUNK_USAGE = {
    "a pool named by escapes": said(USAGE, pool=HOSTILE),
    "a tenant named by escapes": said(USAGE, tenant=HOSTILE),
    "NaN tokens": literal(USAGE, "tokens", b"NaN"),
    "Infinity seconds": literal(USAGE, "work_s", b"Infinity"),
    "1e308 tokens": literal(USAGE, "tokens", b"1e308"),
    "negative tokens": said(USAGE, tokens=-1),
    "400 digits of tokens": literal(USAGE, "tokens", b"1" + b"0" * 400),
    "nested 1,500 deep": literal(USAGE, "task", b"[" * 1500 + b"]" * 1500),
    "a raw NUL in a string": literal(USAGE, "task", b'"a\x00b"'),
    "bytes that are not UTF-8": literal(USAGE, "task", b'"\xff\xfe"'),
    "a lone surrogate": literal(USAGE, "task", b'"\\ud800"'),
    "an array": b"[]",
    "60 kB (the account allows 64 kB)": said(USAGE, task="x" * 60_000),
    "acme, then globex": said(USAGE)[:-1] + b', "tenant": "globex"}',
    "globex's pool": said(USAGE, pool="globex-coder"),
}
JUNK_BUSY = {
    "a pod named by escapes": said(BUSY, pod=HOSTILE),
    "NaN busy": literal(BUSY, "busy", b"NaN"),
    "globex's pool": said(BUSY, pool="globex-coder", pod="globex-coder-1"),
    "globex's pool, as globex": said(BUSY, tenant="globex", pool="globex-coder"),
}
SPENT = {
    "a task named by escapes": said(USAGE, task=HOSTILE),
    "a task of 253 bidi overrides": said(USAGE, task="\u202e" * 253),
    "globex, then acme": b'{"tenant": "globex", ' + said(USAGE)[1:],
}
"""Valid reports: a task's name is only quoted, and the last of a key given twice counts."""
OVER_SHARE = said(USAGE, tokens=3_000_000, task=HOSTILE)
"""Over acme's max_report_share (5% of its 50,000,000 tokens a day): held, audited."""


async def test_a_workers_hostile_reports_are_counted_or_spent_and_reach_no_log_raw(
    daemon: Daemon, admin: Client, worker: Client
) -> None:
    for body in [*JUNK_USAGE.values(), *SPENT.values(), OVER_SHARE]:
        await worker.publish("agentdash.usage.acme", body)
    for body in JUNK_BUSY.values():
        await worker.publish("agentdash.busy.acme", body)
    await worker.flush()

    wanted = (
        f'agentdash_bad_messages_total{{source="usage"}} {len(JUNK_USAGE) + 1}.0',
        f'agentdash_bad_messages_total{{source="busy"}} {len(JUNK_BUSY)}.0',
        f'agentdash_tenant_tokens_today{{tenant="acme"}} {5 * len(SPENT)}.0',
    )
    metrics = ""

    async def all_read() -> bool:
        nonlocal metrics
        metrics = await daemon.metrics()
        return all(line in metrics for line in wanted)

    await eventually(all_read, timeout=20, every=0.1)
    assert 'agentdash_tenant_tokens_today{tenant="globex"} 0.0' in metrics
    await admin.flush()
    (held,) = [r for r in await audit_records(admin) if r["action"] == HELD]
    assert f"task '{SHOWN}'" in held["detail"]
    health = await daemon.health()
    assert health is not None
    lines = [*daemon.read(), held, health]
    assert [text for line in lines for text in strings(line) if UNPRINTABLE.search(text)] == []
    assert [line for line in metrics.splitlines() if UNPRINTABLE.search(line)] == []
    assert (health["role"], health["status"]) == ("leader", 200)
