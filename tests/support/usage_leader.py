"""A leader that counts the workers' usage reports and hands its count on, to kill.

    python -m tests.support.usage_leader NATS_URL

counts acme's reports on the real clock and saves its count to NATS KV, as the daemon's
leader does (controller.coordination.usage_handover), until it is killed: what
tests/controller/coordination/test_usage_handover.py sends SIGKILL to.
"""

from __future__ import annotations

import asyncio
import sys
import time

import nats

from controller.coordination.usage_handover import UsageHandover
from controller.core.config import Config
from controller.sources.usage import NatsUsageSource
from tests.support.factories import config, pool

BUDGET = 1_500_000


def budgeted() -> Config:
    """acme's one pool, under a hard cap of 1,500,000 tokens a day."""
    tenant = {"tier": "growth", "daily_token_budget": BUDGET, "hard_cap": True}
    return config({"research": pool("acme", max_replicas=10)}, {"acme": tenant})


async def counting(
    nc: nats.aio.client.Client, cfg: Config
) -> tuple[NatsUsageSource, UsageHandover]:
    usage = NatsUsageSource(nc, cfg, clock=time.time)
    await usage.start()
    handover = UsageHandover(nc, cfg, usage.ledger)
    await handover.start()
    return usage, handover


async def main(url: str) -> None:
    cfg = budgeted()
    nc = await nats.connect(url)
    _, handover = await counting(nc, cfg)
    await handover.restore(time.time())
    while True:  # until killed
        await handover.save(time.time())
        await asyncio.sleep(0.1)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
