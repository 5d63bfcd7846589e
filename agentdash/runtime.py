"""A controller on a real fleet, as the daemon and the dashboard both run it.

NATS JetStream for lag and for what processes share (overrides, the audit stream, the leader
lease, the leader's decisions); Kubernetes (or, for trials, the simulated cluster) to scale;
token usage from Prometheus when configured, else from the workers' reports on NATS. Only the
lease holder patches; the others follow and show the leader's decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import nats
import nats.errors
from nats.aio.client import Client

from agentdash.cancelling import cancel_until_done
from agentdash.line_writer import write_line
from agentdash.nats_client import jetstream_error
from agentdash.nats_connections import Connections, open_connections
from agentdash.opening import Opened, RuntimeOptions, check_credentials, open_parts
from agentdash.others_actions import OthersActions
from agentdash.stalled_nats import tick_when_nats_answers_again
from controller.coordination.history_stream import HistoryPublisher, HistoryReader, RecordingBus
from controller.coordination.leader_decisions import (
    DECISIONS_SUBJECT,
    DecisionsEncoder,
    follow_decisions,
)
from controller.coordination.lease import NatsLease
from controller.coordination.shared import SharedOverrides
from controller.core.bad_messages import BadMessages
from controller.core.busy import BusyPods
from controller.core.config import Config
from controller.core.events import Event, TickEvent
from controller.core.model import ScaleDecision
from controller.core.printable import loggable_tree, printable
from controller.runtime.loop import Reconciler
from controller.runtime.metrics import Metrics
from controller.sources.base import UsageSource
from controller.sources.prometheus import PrometheusUsageSource

log = logging.getLogger("agentdash")

if TYPE_CHECKING:
    from controller.coordination.kube_lease import KubernetesLease

    AnyLease = NatsLease | KubernetesLease


@dataclass(slots=True)
class Runtime:
    config: Config
    nc: Client
    loop: Reconciler
    metrics: Metrics
    shared: SharedOverrides
    lease: AnyLease
    usage: UsageSource
    publisher: HistoryPublisher | None = None
    """Appends this process's events to the history stream (none if --read-only)."""
    reader: HistoryReader | None = None
    """Reads the leader's event history, once a dashboard asks (follow_history)."""
    busy: BusyPods | None = None
    """Which pods the workers report busy (a scale-down takes idle ones first)."""
    told: DecisionsEncoder | None = None
    """What this process, as leader, last told followers of its decisions."""
    others: OthersActions | None = None
    """The operator actions other processes took, logged by the leader."""
    connections: Connections | None = None
    """Every NATS connection, `nc` among them (agentdash.nats_connections: why several)."""
    ticks: int = 0
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _events: asyncio.Queue[Event] | None = None

    async def follow_history(self) -> HistoryReader:
        """Replay the recent event history (waiting a few seconds at most), then follow it:
        what a dashboard shows in Events and Why."""
        if self.reader is None:
            self.reader = HistoryReader(self.nc, bad=self.metrics.bad)
            await self.reader.start()
        return self.reader

    @property
    def ready(self) -> bool:
        """Sources and actuator answered on the last tick, and no pool's own problem has
        lasted (controller.runtime.health.STEADY_S)."""
        return self.ticks > 0 and self.loop.health.ready()

    async def stop(self) -> None:
        # until each has ended: one cancel can be lost in nats.py's waits (cancelling.py)
        await asyncio.gather(*(cancel_until_done(task) for task in self.tasks))
        if self.reader is not None:
            await self.reader.stop()
        # the tokens counted since the last save: the next leader counts a hard cap from them
        await self.loop.succession.hand_on_last(self.loop.leading, self.loop.clock())
        release = getattr(self.loop.actuator, "release", None)
        if release is not None and self.loop.leading:
            await release()  # give paused KEDA ScaledObjects back before another leader starts
        # NATS may be gone (an outage, a stop while it restarts): what is left to tell it is
        # lost, and the stop goes on (the lease then expires after its TTL).
        with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
            await _tell_read(self)  # what it has logged, the next leader does not
            _mark_logged(self)  # nor one that starts later (written before the stop's end)
            await self.lease.release()  # another takes over at once, not after the TTL
            await self.shared.stop()
        if self.publisher is not None:
            await self.publisher.stop()  # what the last tick told goes out, if NATS is there
        await self.lease.close()  # the Kubernetes Lease's own API client; NATS's has none
        await self.loop.actuator.close()  # its watches and client (or the simulated pods)
        if isinstance(self.usage, PrometheusUsageSource):
            await self.usage.stop()
        for client in self.connections.every() if self.connections else [self.nc]:
            with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
                await client.close()


async def start(config: Config, options: RuntimeOptions) -> Runtime:
    check_credentials(options)
    reconnected: list[Callable[[], None]] = []
    bad = BadMessages()  # what every source drops, counted in one place for /metrics
    links, opened = await _open(config, options, bad, reconnected)
    nc = links.main
    bus = RecordingBus()
    loop = Reconciler(
        config,
        opened.lag,
        opened.usage,
        opened.actuator,
        bus=bus,
        store=opened.store,
        lease=opened.lease,
        dry_run=options.dry_run,
        call_deadline=options.lease_ttl / 3,
        handover=opened.handover,
        spend_handover=opened.spend_handover,
        usage_handover=opened.usage_handover,
    )
    others = _hear_others_actions(loop, opened.shared)
    _after_reconnection(loop, opened, reconnected)
    told = DecisionsEncoder(opened.lease.holder)
    runtime = Runtime(
        config,
        nc,
        loop,
        Metrics(config, opened.bad),
        opened.shared,
        opened.lease,
        opened.usage,
        busy=opened.busy.ledger,
        told=told,
        others=others,
    )
    runtime.connections = links
    if not options.read_only:
        _publish_history(runtime, bus)
    runtime._events = loop.bus.subscribe()
    runtime.tasks.append(asyncio.create_task(_relay(runtime), name="relay"))
    runtime.tasks.append(
        asyncio.create_task(
            tick_when_nats_answers_again(
                nc, failing=lambda: "queue" in loop.problems, back=loop.schedule.now
            ),
            name="stalled NATS",
        )
    )

    await follow_decisions(
        nc,
        leader_said(loop, opened.bad),
        bad=opened.bad,
        pools=config.pools,
        on_request=told.want_full,
        following=lambda: not loop.leading,
        on_read=others.leader_read,
    )
    return runtime


async def _open(
    config: Config,
    options: RuntimeOptions,
    bad: BadMessages,
    reconnected: list[Callable[[], None]],
) -> tuple[Connections, Opened]:
    """The NATS connections, then the parts opened over them; if a part fails, the
    connections are closed, and a NATS error is told as JetStream missing or not ours."""
    links = await open_connections(config, options, bad, reconnected)
    try:
        opened = await open_parts(
            links.main, links.reports, config, options, links.arrivals, bad=bad
        )
    except BaseException as exc:
        for client in links.every():
            # A server gone mid-start: nats.py raises the connection's reset at the close,
            # past the one line this start says.
            with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
                await client.close()
        if isinstance(exc, nats.errors.Error | TimeoutError):  # JetStream not there, or not ours
            url = options.nats_url or config.nats.url
            raise jetstream_error(url, exc, said=links.main.last_error) from None
        raise
    return links, opened


def _hear_others_actions(loop: Reconciler, shared: SharedOverrides) -> OthersActions:
    """The leader logs the actions other processes took: from now on, and those found at
    start that no leader logged."""
    others = OthersActions(loop, emit)
    shared.on_action = others.told
    for found in shared.found:
        others.told(*found)
    shared.found.clear()
    return others


def _after_reconnection(
    loop: Reconciler, opened: Opened, reconnected: list[Callable[[], None]]
) -> None:
    """What is done again once NATS (or the API server) is back."""
    reconnected.append(loop.schedule.now)  # renew the lease at once, not after the backoff
    when_readable = getattr(opened.actuator, "when_readable", None)  # a real cluster's
    if when_readable is not None:  # the API server is back: its pools are scaled at once
        when_readable(loop.schedule.now)
    reconnected.append(opened.shared.reconnected)  # a NATS back without its store


def _publish_history(runtime: Runtime, bus: RecordingBus) -> None:
    """Append this process's events to the history stream (whoever leads when each is told)
    and count them in /metrics."""
    loop = runtime.loop
    publisher = runtime.publisher = HistoryPublisher(runtime.nc, runtime.lease.holder)
    bus.record = lambda event: publisher.offer(event, loop.leading)
    runtime.metrics.registry.register(publisher.collector())
    publisher.start()


def leader_said(
    loop: Reconciler, bad: BadMessages
) -> Callable[[str, list[ScaleDecision], dict[str, int]], None]:
    """What a follower does with the leader's decisions message: show its decisions and the
    replicas it sees. Only from the lease's holder: one from anyone else claiming to lead is
    not shown, and is counted as a bad message. A process that knows of no leader but
    itself (it led, and its renewals get no answer) has no holder to check against: a new
    leader's message is not shown there, nor counted as forged."""

    def take(leader: str, decisions: list[ScaleDecision], ready: dict[str, int]) -> None:
        if loop.leading or loop.lease is None:
            return
        holder = loop.leader  # never itself while it does not lead
        if leader == holder:
            loop.leader_view.hear(decisions, ready, at=loop.clock())
        elif holder is not None:
            bad.drop("decisions", f"from {printable(leader)}, not the lease's holder {holder}")

    return take


async def _relay(runtime: Runtime) -> None:
    """Bus -> metrics, JSON logs, and (as leader) the decisions other processes show. A tick
    costs what changed in it: its event carries only the decisions made again (the pools
    whose readings changed); nothing here walks the whole fleet."""
    assert runtime._events is not None
    loop = runtime.loop
    while True:
        event = await runtime._events.get()
        runtime.metrics.observe(event)
        if isinstance(event, TickEvent):
            runtime.ticks += 1
            observed = loop.engine.observations
            pools = observed.pools
            # A held pool's lag is not known (its observation says 0): its series goes, and a
            # graph shows a gap, not an empty queue.
            runtime.metrics.observe_lag(
                (d.pool, seen.lag if (seen := pools.get(d.pool)) and seen.stale is None else None)
                for d in event.decisions
            )
            runtime.metrics.observe_tokens(observed.tokens_today)
            runtime.metrics.observe_state(loop.stale, loop.leading)
            overrides = loop.overrides
            runtime.metrics.observe_mode(overrides.paused, overrides.dry_run or loop.dry_run)
            # Aged at each scrape; while the queues cannot be read, no wait is known (the
            # last answer would age on, past a tier's target, however the queue moved).
            runtime.metrics.observe_queues({} if "queue" in loop.problems else loop.queues)
            await _tell_decisions(runtime, event)
            if runtime.others is not None:
                runtime.others.ticked()
                _mark_logged(runtime)
        elif hasattr(event, "as_dict"):
            emit(event.as_dict())


def _mark_logged(runtime: Runtime) -> None:
    """As the leader that keeps no action unlogged: what it has read is logged, for a process
    that starts later (controller.coordination.logged_mark)."""
    if runtime.others is not None and runtime.others.all_logged():
        runtime.shared.logged_through(runtime.shared.seen)


async def _tell_read(runtime: Runtime) -> None:
    """As a leader that stops: a last message, with no decision in it, that names the newest
    overrides revision it has read, so that its followers know which actions it has logged
    (agentdash.others_actions), however soon after them it stops."""
    if runtime.told is None or not runtime.loop.leading or not runtime.nc.is_connected:
        return
    payload, read = runtime.nc.max_payload, runtime.shared.seen
    for chunk in runtime.told.messages(time.time(), [], {}, payload, partial=True, read=read):
        await runtime.nc.publish(DECISIONS_SUBJECT, chunk)
    await runtime.nc.flush()


async def _tell_decisions(runtime: Runtime, tick: TickEvent) -> None:
    """As leader, what changed in this tick's decisions, for the followers to show."""
    told = runtime.told
    if told is None:
        return
    if not runtime.loop.leading:
        told.forget()  # followers follow another: lead again with a full view
        return
    if not runtime.nc.is_connected:
        told.want_full()  # what this tick changed is lost: start again from a full view
        return
    ready = runtime.loop.ready_of(d.pool for d in tick.decisions)
    payload, read = runtime.nc.max_payload, runtime.shared.seen
    chunks = told.messages(tick.ts, tick.decisions, ready, payload, partial=True, read=read)
    try:
        for chunk in chunks:
            await runtime.nc.publish(DECISIONS_SUBJECT, chunk)
    except nats.errors.Error:
        told.want_full()  # a part is missing: followers wait for the next full view


def emit(record: dict[str, Any]) -> None:
    """One JSON object per line on stdout: what the daemon did. Every string in it is
    `loggable`, as much of it comes from NATS and Kubernetes: whoever prints a field
    (`jq -r .message`) gets neither a control character nor a URL's password. In the daemon,
    the line is queued, never waited for (agentdash.line_writer)."""
    write_line(json.dumps(loggable_tree(record), default=str))
