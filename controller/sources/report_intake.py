"""How each tenant's usage and busy reports come in: a subscription a tenant, read at most at
the pace its own pools could report.

The CPU a flood costs is mostly not the check of each report but nats.py reading it: every
message the server sends is parsed and queued, or dropped once PENDING_REPORTS wait, on the
event loop that also renews the lease. So each tenant's reports are handed over at most its
`report_rates` a second (what its pools could send at their largest), a SLICE at a time with
the loop given back between slices. A tenant with more than BACKLOG_S of its rate waiting is
flooding: what waits is dropped and its subject is not listened to for FLOOD_PAUSE_S, so the
server sends nothing meanwhile, and the flood costs the loop only what arrives before it is
seen. The mark is far below PENDING_REPORTS: while a queue fills, the server piles up many
times more for the connection, and all of it is parsed after the unsubscription.
Both kinds of drop count as a flood (`agentdash_bad_messages_total{source="flood"}`, said at
most once a minute). A tenant within its rate loses nothing: a burst waits and is read at
the rate. Waiting reports are measured by count and by bytes: oversized ones fill a
subscription's bytes first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import nats.errors

from controller.core.allowance import Allowance
from controller.core.bad_messages import BadMessages
from controller.core.config import Config

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

MAX_REPORT_BYTES = 4096
PENDING_REPORTS = 10_000
"""Reports received and not yet read, at most, per subscription. A worker can publish faster
than they are read; beyond this they are dropped as they arrive (nats.py's slow consumer),
not queued: a flood must not grow the process without end."""
SHORTEST_TASK_S = 1.0
"""The shortest task a pool is taken to do: an agent's task calls a model at least once."""
REPORTS_A_TASK = 2
"""On the busy subject, a task's start and its end; on the usage subject, one."""
MIN_RATE = 500.0
"""Reports a second a tenant may send on a subject, at least (a small fleet's bursts)."""
MAX_RATE = 2000.0
"""And at most: a tenant's flood costs the loop this many reports' reading a second."""
SLICE = 50
"""Reports read before the loop is given back: nats.py hands queued messages over without
yielding, and a burst would hold the tick and the lease's renewal until it was all read."""
BACKLOG_S = 5.0
"""Reports waiting beyond this many seconds of the tenant's rate are a flood (2,500 at the
least rate: a burst of 2,000 held reports is read in full)."""
FLOOD_PAUSE_S = 5.0
"""How long a flooding tenant is not listened to."""


def report_tenants(config: Config) -> list[str]:
    """The tenants whose workers report: those with a pool."""
    return sorted({pool.tenant for pool in config.pools.values()})


def report_rates(config: Config) -> dict[str, float]:
    """Per tenant with a pool, the reports a second its workers may send on a subject: every
    task slot of its pools (max_replicas x concurrency) ending a task each SHORTEST_TASK_S,
    between MIN_RATE and MAX_RATE."""
    slots: dict[str, int] = {}
    for pool in config.pools.values():
        slots[pool.tenant] = slots.get(pool.tenant, 0) + pool.max_replicas * pool.concurrency
    return {
        tenant: min(MAX_RATE, max(MIN_RATE, REPORTS_A_TASK * n / SHORTEST_TASK_S))
        for tenant, n in slots.items()
    }


class PacedReports:
    """One tenant's reports on one subject, handed to `read` at most `rate` a second."""

    def __init__(
        self,
        client: Client,
        subject: str,
        read: Callable[[Msg], Awaitable[None]],
        *,
        rate: float,
        bad: BadMessages,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.subject = subject
        self._read = read
        self.rate = rate
        self._allowance = Allowance(at_once=rate, every=1 / rate)
        self._flooded_at = min(PENDING_REPORTS - 1, int(rate * BACKLOG_S))
        self._flooded_bytes = self._flooded_at * MAX_REPORT_BYTES
        """As many bytes as the most reports a burst may have waiting, each of the largest
        size: reports larger than that (up to the account's max_payload) would fill the
        subscription's bytes before its count, and the client would drop them one by one,
        read at full speed for as long as the flood lasted, never paused."""
        self._bad = bad
        self._clock = clock
        self._paused = False
        self._skipped = 0
        """Reports of the subscription being paused that were not read."""
        self._read_in_slice = 0
        self._pausing: asyncio.Task[None] | None = None
        """The pause under way: the loop keeps only a weak reference to a task."""
        self._sub: Subscription

    async def start(self) -> None:
        self._paused = False
        self._sub = await self._client.subscribe(
            self.subject,
            cb=self._on_message,
            pending_msgs_limit=PENDING_REPORTS,
            pending_bytes_limit=PENDING_REPORTS * MAX_REPORT_BYTES,
        )

    async def _on_message(self, msg: Msg) -> None:
        if self._paused:  # the subscription is on its way out: counted with it
            self._skipped += 1
            return
        if (
            self._sub.pending_msgs >= self._flooded_at
            or self._sub.pending_bytes >= self._flooded_bytes
        ):
            self._paused, self._skipped = True, 1
            self._pausing = asyncio.create_task(self._pause(self._sub))
            return
        now = self._clock()
        while not self._allowance.take(now):
            self._read_in_slice = 0
            await asyncio.sleep(self._allowance.wait(now))
            now = self._clock()
        await self._read(msg)
        self._read_in_slice += 1
        if self._read_in_slice >= SLICE:
            self._read_in_slice = 0
            await asyncio.sleep(0)

    async def _pause(self, sub: Subscription) -> None:
        """Not listened to for FLOOD_PAUSE_S: its waiting reports go with the subscription
        (its own task, as unsubscribing cancels the one that reads)."""
        try:
            await sub.unsubscribe()
        except nats.errors.Error:  # closed or draining: this process is stopping
            return
        waiting = self._skipped + sub.pending_msgs
        self._bad.drop(
            "flood",
            f"{self.subject}: more than {self.rate:g} reports a second came, {waiting} waited;"
            f" not listened to for {FLOOD_PAUSE_S:g} s",
            count=waiting,
            about=self.subject,
        )
        await asyncio.sleep(FLOOD_PAUSE_S)
        try:
            await self.start()
        except nats.errors.Error:
            return


async def subscribe_reports(
    nc: Client,
    prefix: str,
    read: Callable[[Msg], Awaitable[None]],
    config: Config,
    bad: BadMessages,
    connections: Mapping[str, Client] | None = None,
) -> list[PacedReports]:
    """Each tenant's reports under `prefix`, one subscription a tenant (on its connection in
    `connections`, else on `nc`), read at its `report_rates`. One subscription for all once
    let a tenant's flood fill it: another tenant's reports were lost with it, and its spend
    looked unspent."""
    rates = report_rates(config)
    subscriptions = []
    for tenant in report_tenants(config):
        client = (connections or {}).get(tenant, nc)
        reports = PacedReports(client, f"{prefix}.{tenant}", read, rate=rates[tenant], bad=bad)
        await reports.start()
        subscriptions.append(reports)
    return subscriptions
