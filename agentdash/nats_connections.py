"""The NATS connections a daemon or dashboard holds, and why more than one.

A publisher can send faster than this process reads, and the server cuts a connection that
cannot keep up (a slow consumer). So what anyone may flood has a connection of its own, and a
flood costs only what it floods:

- `main`: the lease, the queues' reads and the shared state (overrides, handovers, history);
- `arrivals`: the pools' task subjects, watched for the wake from zero and the arrival rate.
  On the lease's connection, a producer's flood of tasks had the lease lost for as long as
  it lasted. It takes no headers: only a task's subject is read;
- `reports`: per tenant with a pool, its workers' usage and busy reports. On one connection
  for all, one tenant's flood lost every other tenant's reports, and their spend looked
  unspent.

Messages beyond what a subscription keeps waiting are dropped by the client (the reports' and
arrivals' limits), and a tenant's reports beyond its rate are dropped unread
(controller.sources.report_intake): each is counted
(`agentdash_bad_messages_total{source="flood"}`) and said in the log at most once a minute.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.client import Client

from agentdash.nats_client import connect_nats
from agentdash.opening import RuntimeOptions
from controller.core.bad_messages import BadMessages
from controller.core.config import Config
from controller.core.printable import printable
from controller.sources.report_intake import report_tenants


@dataclass(frozen=True, slots=True)
class Connections:
    main: Client
    arrivals: Client
    reports: dict[str, Client]
    """Per tenant with a pool."""

    def every(self) -> list[Client]:
        return [*self.reports.values(), self.arrivals, self.main]


async def open_connections(
    config: Config,
    options: RuntimeOptions,
    bad: BadMessages,
    reconnected: list[Callable[[], None]],
) -> Connections:
    """Every connection, or none (those made are closed if one fails). `reconnected` is
    called when the main connection is back after an outage."""
    url = options.nats_url or config.nats.url

    def dropped(said: str) -> None:
        bad.drop("flood", f"{said}: more come than this process reads")

    def connect(name: str, headers: bool = True) -> Awaitable[Client]:
        return connect_nats(
            url,
            options.connect_timeout,
            config.nats,
            config.source,
            name=name,
            dropped=dropped,
            headers=headers,
        )

    main = await connect_nats(
        url,
        options.connect_timeout,
        config.nats,
        config.source,
        reconnected=reconnected,
        dropped=dropped,
    )
    made = [main]
    try:
        # Only a task's subject is read: its headers, stripped by the server, are not parsed
        # (a producer's megabyte of short header lines held the loop 0.1 s a task).
        arrivals = await connect("NATS (tasks)", headers=False)
        made.append(arrivals)
        reports: dict[str, Client] = {}
        for tenant in report_tenants(config):
            # Reports carry no headers: what a tenant sends with them is stripped by the
            # server rather than parsed and held here (nats_client.HeaderlessClient).
            reports[tenant] = await connect(f"NATS (reports {printable(tenant)})", headers=False)
            made.append(reports[tenant])
    except BaseException:
        for client in made:
            await client.close()
        raise
    return Connections(main=main, arrivals=arrivals, reports=reports)
