"""Many pools on one real NATS: a fleet, workers that fetch, and the JetStream API requests
the lag source makes."""

from __future__ import annotations

from collections import Counter

from nats.aio.client import Client
from nats.aio.subscription import Subscription

from controller.core.config import Config
from tests.support.factories import config, pool

POOLS = 600
"""Three pages of consumers (the server sends 256 a page)."""


def fleet(n: int = POOLS) -> Config:
    return config({f"p{i:04d}": pool("acme") for i in range(n)})


async def fetch(nc: Client, consumer: str, n: int) -> None:
    """A worker takes `n` tasks and holds them unacked."""
    sub = await nc.jetstream().pull_subscribe_bind(consumer, "AGENT_TASKS")
    got = 0
    while got < n:  # a fetch may return fewer than asked
        got += len(await sub.fetch(n - got, timeout=2))


async def requests(nc: Client, sub: Subscription) -> Counter[str]:
    """The JetStream API requests sent since the last call, by kind (`CONSUMER.LIST`, ...)."""
    await nc.flush()  # the server's answer to a ping follows everything it sent before
    kinds: Counter[str] = Counter()
    while sub.pending_msgs:
        subject = (await sub.next_msg()).subject
        kinds[".".join(subject.split(".")[2:4])] += 1
    return kinds
