"""What a controller on a real fleet opens before its loop can run: the actuator (Kubernetes,
or the simulated cluster), the leader lease, and the sources of lag, usage and overrides, in
the order each needs the one before. agentdash.runtime builds the loop from them.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nats.aio.client import Client

from agentdash.errors import StartError, UnusableInput
from controller.actuators.base import Actuator
from controller.actuators.simcluster import SimulatedCluster
from controller.coordination.audit_trail import audit
from controller.coordination.handover import HistoryHandover
from controller.coordination.lease import LeaseError, NatsLease
from controller.coordination.overrides import OverrideStore
from controller.coordination.shared import SharedOverrides
from controller.coordination.spend_handover import SpendHandover
from controller.coordination.usage_handover import UsageHandover
from controller.core.bad_messages import BadMessages
from controller.core.busy import BusyPods
from controller.core.config import Config, ConfigError
from controller.sources.base import UsageSource
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.prometheus import PrometheusUsageSource
from controller.sources.usage import HeldReport, NatsBusySource, NatsUsageSource

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
class Opened:
    """What `start` opens before it can build the loop."""

    bad: BadMessages
    busy: NatsBusySource
    actuator: Actuator
    lag: JetStreamLagSource
    store: OverrideStore
    shared: SharedOverrides
    usage: UsageSource
    lease: AnyLease
    handover: HistoryHandover
    spend_handover: SpendHandover
    usage_handover: UsageHandover | None
    """Each tenant's tokens today, where the workers' reports count them (not Prometheus)."""


def check_credentials(options: RuntimeOptions) -> None:
    """A real fleet's kubeconfig, found and checked before NATS is contacted: a mistake in it
    is the user's setup, said at once (one line, exit 2), not after every connection is made."""
    if options.cluster == "simulated":
        return
    from controller.actuators.kubernetes import KubeConfigError
    from controller.actuators.kubernetes import check_credentials as check

    try:
        check(options.kubeconfig, options.context)
    except KubeConfigError as exc:
        raise UnusableInput(str(exc)) from None


KUBERNETES_LEASE_MIN_S = 3
"""The shortest leaseDurationSeconds a holder can keep. A Kubernetes Lease keeps whole seconds
(the TTL rounded up, controller.coordination.lease_ttl `whole_seconds`), and its holder gives
up 1 s of them for clocks that differ; it renews when what is left is the call deadline, a
third of the TTL. Under 3 s, what is left after the margin is shorter than the renewal may
take: one that takes its time lands after the lease has lapsed (at 1 s, none is left at all:
the lease could not be made)."""


def contends(options: RuntimeOptions) -> bool:
    """Whether this process ever takes the lease: the daemon, and a dashboard with --lead;
    never a --read-only or a --dry-run one."""
    # A --dry-run process patches nothing: leading, it would leave every pool unscaled
    # while the real daemons beside it follow (a stranger's dry-run daemon took the lease
    # and nothing scaled until it stopped). It says what it would do without leading.
    return options.lead and not options.read_only and not options.dry_run


def check_lease_ttl(config: Config, options: RuntimeOptions) -> None:
    """A --lease-ttl the Kubernetes Lease named in the config cannot keep: one line naming
    the file and the field (exit 2), before anything is contacted.
    Only for a process that takes the Lease. One that never does only reads who holds it,
    and judges the holder by the holder's own leaseDurationSeconds: its TTL only stands in
    where the Lease holds none that is valid, and sets how often it reads, which needs no
    margin, so any TTL the flag takes will do."""
    if config.kubernetes.lease is None or options.cluster != "kubernetes":
        return  # the NATS KV lease: its TTL is the bucket's, to the millisecond
    if not contends(options):
        return
    from controller.coordination.lease_ttl import whole_seconds

    if whole_seconds(options.lease_ttl) < KUBERNETES_LEASE_MIN_S:
        shortest = KUBERNETES_LEASE_MIN_S - 1
        raise ConfigError(
            config.source,
            "kubernetes.lease",
            f"expected --lease-ttl (or AGENTDASH_LEASE_TTL) above {shortest} s with a "
            f"Kubernetes Lease, got {options.lease_ttl:g}: the Lease keeps it in whole seconds, "
            f"rounded up, and its holder needs at least {KUBERNETES_LEASE_MIN_S}, since it "
            "gives up 1 s of them for clocks that differ, which leaves a renewal too little "
            "time to land before it lapses",
        )


async def make_actuator(
    config: Config,
    options: RuntimeOptions,
    busy: BusyPods | None = None,
    bad: BadMessages | None = None,
) -> Actuator:
    if options.cluster == "simulated":
        return SimulatedCluster(config)
    from controller.actuators.kubernetes import (  # only a real fleet needs the client
        DeploymentScaler,
        KubeConfigError,
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
            bad=bad,
        )
    except KubeConfigError as exc:
        # The kubeconfig (given, or found by default) or its absence is the user's setup,
        # not the cluster being away: bad input, whichever way it was chosen.
        raise UnusableInput(str(exc)) from None
    except Exception as exc:  # no API server, or it refuses us: "not here"
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
    nc: Client, config: Config, options: RuntimeOptions, actuator: Actuator, bad: BadMessages
) -> AnyLease:
    """Who may actuate: a NATS KV lease, or a Kubernetes Lease if the config names one (for
    a real cluster only). A dashboard contends only with --lead; a --read-only one never, nor
    a --dry-run one.
    The Kubernetes Lease rides the scaler's client and budget, where its calls go first: the
    process asks the API for no more than `kubernetes.qps`, and a renewal never waits behind
    scale calls. `bad` counts the lease values it refuses."""
    holder = options.holder or unique_holder()
    contend = contends(options)
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
            bad=bad,
        )
    lease = NatsLease(nc, holder, ttl=options.lease_ttl, contend=contend, bad=bad)
    try:
        await lease.start()
    except LeaseError as exc:
        raise ConfigError(f"--lease-ttl {options.lease_ttl:g}", "", str(exc)) from None
    return lease


async def open_parts(
    nc: Client,
    reports: Mapping[str, Client],
    config: Config,
    options: RuntimeOptions,
    arrivals: Client | None = None,
    *,
    bad: BadMessages,
) -> Opened:
    """Start the sources, the actuator, the lease and the handovers, in the order each
    needs the one before (the caller closes the connections if one fails). `bad` counts
    what every source drops."""
    # JetStream first, before any subscription: a user who may not use it (a tenant's
    # worker or producer) is the one line that says so, not a warning a subject refused.
    await nc.jetstream().account_info()
    # idle pods go first
    busy = NatsBusySource(nc, config, clock=time.time, bad=bad, connections=reports)
    await busy.start()
    actuator = await make_actuator(config, options, busy.ledger, bad)
    lag = JetStreamLagSource(nc, config, bad=bad, arrivals=arrivals)
    await lag.start()
    store = OverrideStore(config, read_only=options.read_only)
    shared = SharedOverrides(nc, store, config, bad=bad)
    await shared.start()  # the audit stream first: a held usage report is audited
    usage: UsageSource
    if config.prometheus is not None:
        usage = PrometheusUsageSource(config, config.prometheus, bad=bad)
    else:
        held = None if options.read_only else audit_held(nc)
        usage = NatsUsageSource(
            nc, config, clock=time.time, bad=bad, on_held=held, connections=reports
        )
    await usage.start()
    lease = await make_lease(nc, config, options, actuator, bad)
    handover = HistoryHandover(nc, config, bad=bad)
    await handover.start()
    spend_handover = SpendHandover(nc, config, bad=bad)
    await spend_handover.start()
    usage_handover = None
    if isinstance(usage, NatsUsageSource):
        usage_handover = UsageHandover(nc, config, usage.ledger, bad=bad)
        await usage_handover.start()
        await usage_handover.restore(time.time())  # a follower's count, and a dashboard's
    return Opened(
        bad=bad,
        busy=busy,
        actuator=actuator,
        lag=lag,
        store=store,
        shared=shared,
        usage=usage,
        lease=lease,
        handover=handover,
        spend_handover=spend_handover,
        usage_handover=usage_handover,
    )


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
