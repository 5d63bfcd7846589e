"""A controller on a real fleet, as the daemon and the dashboard both run it.

NATS JetStream for lag and for what processes share (overrides, the audit stream, the leader
lease, the leader's decisions); Kubernetes (or, for trials, the simulated cluster) to scale;
token usage from Prometheus when configured, else from the workers' reports on NATS. Only the
lease holder patches; the others follow and show the leader's decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import nats
import nats.errors
from nats.aio.client import Client

from agentdash.errors import StartError
from agentdash.nats_client import connect_nats
from controller.actuators.base import Actuator
from controller.actuators.simcluster import SimulatedCluster
from controller.coordination.handover import HistoryHandover
from controller.coordination.history_stream import HistoryPublisher, HistoryReader, RecordingBus
from controller.coordination.leader_decisions import (
    DECISIONS_SUBJECT,
    DecisionsEncoder,
    follow_decisions,
)
from controller.coordination.lease import LeaseError, NatsLease
from controller.coordination.overrides import OverrideStore
from controller.coordination.shared import SharedOverrides, audit
from controller.coordination.spend_handover import SpendHandover
from controller.core.bad_messages import BadMessages
from controller.core.busy import BusyPods
from controller.core.config import Config, ConfigError
from controller.core.events import ActionEvent, Event, TickEvent
from controller.core.model import ScaleDecision
from controller.core.printable import loggable_tree
from controller.runtime.loop import Reconciler
from controller.runtime.metrics import Metrics
from controller.sources.base import UsageSource
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.prometheus import PrometheusUsageSource
from controller.sources.usage import HeldReport, NatsBusySource, NatsUsageSource

log = logging.getLogger("agentdash")

if TYPE_CHECKING:
    from controller.coordination.kube_lease import KubernetesLease

    AnyLease = NatsLease | KubernetesLease


@dataclass(slots=True)
class RuntimeOptions:
    nats_url: str | None = None
    cluster: str = "kubernetes"
    """kubernetes, or simulated (no cluster: replicas are only counted)."""
    kubeconfig: str | None = None
    context: str | None = None
    dry_run: bool = False
    lease_ttl: float = 10.0
    connect_timeout: float = 5.0
    lead: bool = True
    """Contend for the lease (the daemon; a dashboard only with --lead)."""
    read_only: bool = False
    """Never lead, never write an override (a --read-only dashboard)."""
    holder: str | None = None
    """This process's name in the lease, unique among those alive (default host:pid and a
    random part, `unique_holder`; in a pod the host is its name)."""


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
    reports: Client | None = None
    """The connection the workers' usage and busy reports arrive on (start: why not `nc`)."""
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
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.reader is not None:
            await self.reader.stop()
        release = getattr(self.loop.actuator, "release", None)
        if release is not None and self.loop.leading:
            await release()  # give paused KEDA ScaledObjects back before another leader starts
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await self.lease.release()  # another takes over at once, not after the TTL
            await self.shared.stop()
        if self.publisher is not None:
            await self.publisher.stop()  # what the last tick told goes out, if NATS is there
        await self.lease.close()  # the Kubernetes Lease's own API client; NATS's has none
        await self.loop.actuator.close()  # its watches and client (or the simulated pods)
        if isinstance(self.usage, PrometheusUsageSource):
            await self.usage.stop()
        for client in (self.reports, self.nc):
            if client is not None:
                with contextlib.suppress(nats.errors.Error, TimeoutError):
                    await client.close()


async def make_actuator(
    config: Config, options: RuntimeOptions, busy: BusyPods | None = None
) -> Actuator:
    if options.cluster == "simulated":
        return SimulatedCluster(config)
    from controller.actuators.kubernetes import (
        DeploymentScaler,  # only a real fleet needs the client
    )

    take_over = {name for name, pool in config.pools.items() if pool.take_over}
    try:
        return await DeploymentScaler.connect(
            config,
            kubeconfig=options.kubeconfig,
            context=options.context,
            take_over=take_over,
            dry_run=options.dry_run,
            qps=config.kubernetes.qps,
            burst=config.kubernetes.burst,
            deadline_s=options.lease_ttl / 3,
            annotate=config.kubernetes.annotate,
            busy=busy if config.kubernetes.pod_deletion_cost else None,
        )
    except Exception as exc:  # no kubeconfig, no API server, bad context: all mean "not here"
        raise StartError(f"cannot reach the Kubernetes API: {type(exc).__name__}: {exc}") from None


def unique_holder() -> str:
    """This process's name in the lease: host:pid, and a random part, as client-go's leader
    election adds one, since neither host nor pid is unique alone (two containers on the host
    network both run as pid 1, and the tests run two controllers in one process). The lease
    takes an entry back that names its holder (controller.coordination.lease). A character
    that no holder's name may have (`valid_holder`) becomes `-`."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()[:200])
    return f"{host}:{os.getpid()}_{os.urandom(3).hex()}"


async def make_lease(
    nc: Client, config: Config, options: RuntimeOptions, actuator: Actuator
) -> AnyLease:
    """Who may actuate: a NATS KV lease, or a Kubernetes Lease if the config names one (for
    a real cluster only). A dashboard contends only with --lead; a --read-only one never.
    The Kubernetes Lease rides the scaler's client and budget, where its calls go first: the
    process asks the API for no more than `kubernetes.qps`, and a renewal never waits behind
    scale calls."""
    holder = options.holder or unique_holder()
    contend = options.lead and not options.read_only
    where = config.kubernetes.lease
    if where is not None and options.cluster == "kubernetes":
        from controller.actuators.kubernetes import DeploymentScaler
        from controller.coordination.kube_lease import KubernetesLease

        assert isinstance(actuator, DeploymentScaler)  # what make_actuator makes for it
        return KubernetesLease(
            actuator.api.client,
            holder,
            namespace=where.namespace,
            name=where.name,
            ttl=options.lease_ttl,
            contend=contend,
            api=actuator.api,
        )
    lease = NatsLease(nc, holder, ttl=options.lease_ttl, contend=contend)
    try:
        await lease.start()
    except LeaseError as exc:
        raise ConfigError(f"--lease-ttl {options.lease_ttl:g}", "", str(exc)) from None
    return lease


async def start(config: Config, options: RuntimeOptions) -> Runtime:
    url = options.nats_url or config.nats.url
    reconnected: list[Callable[[], None]] = []
    nc = await connect_nats(
        url, options.connect_timeout, config.nats, config.source, reconnected=reconnected
    )
    reports: Client | None = None
    try:
        # The workers' reports come on a connection of their own. A tenant can publish them
        # faster than this process reads, and the server cuts a slow consumer: were they on
        # the lease's connection, a flooding worker would cost the lease. Here it may cut
        # only this one (the reports lost meanwhile are logged as a slow consumer).
        reports = await connect_nats(
            url, options.connect_timeout, config.nats, config.source, name="NATS (reports)"
        )
        bad = BadMessages()  # what every source drops, counted in one place for /metrics
        busy = NatsBusySource(reports, config, clock=time.time, bad=bad)  # idle pods go first
        await busy.start()
        actuator = await make_actuator(config, options, busy.ledger)
        lag = JetStreamLagSource(nc, config, bad=bad)
        await lag.start()
        store = OverrideStore(config, read_only=options.read_only)
        shared = SharedOverrides(nc, store, config, bad=bad)
        await shared.start()  # the audit stream first: a held usage report is audited
        usage: UsageSource
        if config.prometheus is not None:
            usage = PrometheusUsageSource(config, config.prometheus, bad=bad)
            await usage.start()
        else:
            held = None if options.read_only else audit_held(nc)
            usage = NatsUsageSource(reports, config, clock=time.time, bad=bad, on_held=held)
            await usage.start()
        lease = await make_lease(nc, config, options, actuator)
        handover = HistoryHandover(nc, config)
        await handover.start()
        spend_handover = SpendHandover(nc, config)
        await spend_handover.start()
    except BaseException:
        for client in (reports, nc):
            if client is not None:
                await client.close()
        raise
    bus = RecordingBus()
    loop = Reconciler(
        config,
        lag,
        usage,
        actuator,
        bus=bus,
        store=store,
        lease=lease,
        dry_run=options.dry_run,
        call_deadline=options.lease_ttl / 3,
        handover=handover,
        spend_handover=spend_handover,
    )
    shared.on_action = log_others_action(loop)
    reconnected.append(loop.schedule.now)  # renew the lease at once, not after the backoff
    told = DecisionsEncoder(lease.holder)
    runtime = Runtime(
        config, nc, loop, Metrics(config, bad), shared, lease, usage, busy=busy.ledger, told=told
    )
    runtime.reports = reports
    if not options.read_only:
        publisher = runtime.publisher = HistoryPublisher(nc, lease.holder)
        bus.record = lambda event: publisher.offer(event, loop.leading)
        runtime.metrics.registry.register(publisher.collector())
        publisher.start()
    runtime._events = loop.bus.subscribe()
    runtime.tasks.append(asyncio.create_task(_relay(runtime), name="relay"))

    await follow_decisions(
        nc,
        leader_said(loop),
        bad=bad,
        pools=config.pools,
        on_request=told.want_full,
        following=lambda: not loop.leading,
    )
    return runtime


def audit_held(nc: Client) -> Callable[[HeldReport], Awaitable[None]]:
    """Audit each usage report held for being over its tenant's share: who sent it (the
    subject) and what it said. Every process that reads the report audits it; the audit
    stream keeps one (its message id is the report's digest)."""
    js = nc.jetstream()

    async def held(report: HeldReport) -> None:
        record = {**report.event(time.time()).as_dict(), **report.record()}
        said = f"{report.subject}\n{report.report.model_dump_json()}".encode()
        await audit(js, record, once=f"usage-{hashlib.sha256(said).hexdigest()[:32]}")

    return held


def leader_said(loop: Reconciler) -> Callable[[str, list[ScaleDecision], dict[str, int]], None]:
    """What a follower does with the leader's decisions message: show its decisions and the
    replicas it sees. Only from the lease's holder: anyone else claiming to lead is not shown."""

    def take(leader: str, decisions: list[ScaleDecision], ready: dict[str, int]) -> None:
        if not loop.leading and loop.lease is not None and leader == loop.lease.leader_name:
            loop.leader_view.hear(decisions, ready, at=loop.clock())

    return take


def log_others_action(loop: Reconciler) -> Callable[[ActionEvent, str], None]:
    """What a process does with an operator action another took (read from the shared
    overrides): the leader logs it, with who, when and from where; a follower leaves it to
    the leader, so that the daemons' logs have each action once."""

    def told(event: ActionEvent, origin: str) -> None:
        if loop.leading:
            emit({**event.as_dict(), "from": origin})
        else:
            what = f"{event.action} {event.target} by {event.who} from {origin}"
            log.debug("%s: the leader logs it", what)

    return told


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
            runtime.metrics.observe_lag(
                (d.pool, pools[d.pool].lag if d.pool in pools else None) for d in event.decisions
            )
            runtime.metrics.observe_tokens(observed.tokens_today)
            runtime.metrics.observe_state(loop.stale, loop.leading)
            runtime.metrics.observe_queues(loop.queues)  # aged at each scrape
            await _tell_decisions(runtime, event)
        elif hasattr(event, "as_dict"):
            emit(event.as_dict())


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
    chunks = told.messages(tick.ts, tick.decisions, ready, runtime.nc.max_payload, partial=True)
    try:
        for chunk in chunks:
            await runtime.nc.publish(DECISIONS_SUBJECT, chunk)
    except nats.errors.Error:
        told.want_full()  # a part is missing: followers wait for the next full view


def emit(record: dict[str, Any]) -> None:
    """One JSON object per line on stdout: what the daemon did. Every string in it is
    `loggable`, as much of it comes from NATS and Kubernetes: whoever prints a field
    (`jq -r .message`) gets neither a control character nor a URL's password."""
    print(json.dumps(loggable_tree(record), default=str), flush=True)
