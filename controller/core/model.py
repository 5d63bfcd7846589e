"""Plain values that flow through the brain: what was observed, what operators said, what was
decided. Dataclasses and records inside (those the backtest builds most are in
controller.core.model_records, which `make accel` compiles); pydantic only at the edges
(config, files, the wire)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controller.core.model_records import InFlight as InFlight
from controller.core.model_records import PoolObservation as PoolObservation
from controller.core.model_records import Reason as Reason
from controller.core.model_records import ScaleDecision as ScaleDecision

if TYPE_CHECKING:  # the learner reads the config; the plain values here need nothing
    from controller.core.spend_read import SpendRead


@dataclass(frozen=True, slots=True)
class Observations:
    pools: Mapping[str, PoolObservation]
    tokens_today: Mapping[str, int] = field(default_factory=dict)
    """Tokens used today per tenant; a tenant absent here has unknown usage."""
    stale_tokens: Mapping[str, str] = field(default_factory=dict)
    """Tenants whose usage is the last known value, and why."""
    unobserved: Mapping[str, str] = field(default_factory=dict)
    """Why some pools have no observation at all (a vanished or forbidden Deployment), or
    are not scaled by agentdash (another autoscaler scales it, its scale was refused)."""
    unscaled_replicas: Mapping[str, int] = field(default_factory=dict)
    """The replicas read of the pools in `unobserved` whose Deployment is read all the same:
    held there, and counted against the shared ceilings (their pods take room too)."""
    replica_seconds_today: Mapping[str, float] = field(default_factory=dict)
    """Per tenant, its pools' replicas integrated over its budget day (the engine reads them
    with the spend, once a minute): with tokens_today, what one replica-second costs the
    tenant, for budget pacing where its tokens a task are not known."""
    spend: Mapping[str, SpendRead] = field(default_factory=dict)
    """Per budgeted tenant, its spend as last read (controller.core.spend: the forecast and
    its tokens a task, read once a minute): what the budget pace reads. A tenant absent here
    has no forecast yet."""
    tasks_today: Mapping[str, int] = field(default_factory=dict)
    """Tasks its workers reported done today per tenant, where known: with tokens_today, its
    tokens a task (what the tasks it may have in flight could spend)."""
    task_tokens: Mapping[str, float] = field(default_factory=dict)
    """Per tenant, its tokens a task as last known: today's once a task is reported today,
    else the last day's, so that the first tasks after a reset are priced too. A tenant
    absent here is read from tokens_today and tasks_today."""
    in_flight: Mapping[str, InFlight] | None = None
    """Per tenant, the most tasks its pools may have in flight (controller.core.budget_price's
    `in_flight`). None: worked out from `pools` (controller.core.policy); the engine keeps it
    as it reads."""


NOTHING_IN_FLIGHT = InFlight()


@dataclass(frozen=True, slots=True)
class Pin:
    """An operator's warm-pool floor for one pool."""

    replicas: int
    until: float | None = None
    """Expiry (epoch seconds); none pins until unpinned."""
    by: str | None = None
    at: float | None = None
    """When it was pinned (epoch seconds)."""

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True, slots=True)
class PoolPause:
    """An operator's pause of one pool (KEDA's paused-replicas): its replicas stay where they
    are, or go to the number chosen, whatever its queue says, until resumed or `until`."""

    replicas: int | None = None
    """None: hold the replicas the pool has."""
    until: float | None = None
    """Expiry (epoch seconds); none pauses until resumed."""
    by: str | None = None
    at: float | None = None
    """When it was paused (epoch seconds)."""

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True, slots=True)
class Overrides:
    """What operators said. Persisted by the loop; read by the policy."""

    pins: Mapping[str, Pin] = field(default_factory=dict)
    paused_tenants: frozenset[str] = frozenset()
    paused: bool = False
    """The whole controller holds replicas where they are (the loop's concern)."""
    dry_run: bool = False
    """Decide and report, never actuate (the loop's concern)."""
    paused_pools: Mapping[str, PoolPause] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueueStats:
    pending: int
    ack_pending: int
    arrival_rate: float | None = None
    """Tasks a second reaching the pool's subject, if measured."""
    stale: str | None = None
    """Why this pool's queue could not be read (the others may be fine)."""
    oldest_at: float | None = None
    """When the oldest task still waiting for a worker (pending: never delivered) reached the
    queue, epoch seconds; None: none waits, or unknown. Shown and alerted on; the policy never
    reads it."""


@dataclass(frozen=True, slots=True)
class Usage:
    tokens_today: Mapping[str, int]
    mean_task_seconds: Mapping[str, float] = field(default_factory=dict)
    """Per pool, from the workers' reports."""
    stale: str | None = None
    """Why these are the last known values rather than fresh ones."""
    tasks_today: Mapping[str, int] = field(default_factory=dict)
    """Per tenant, the tasks its workers reported done today, where reported (what a task
    costs it: the budget forecast counts its queue's tokens with it)."""
    task_tokens: Mapping[str, float] = field(default_factory=dict)
    """Per pool, its tokens a task, where reported (what the budget prices its tasks by)."""


@dataclass(frozen=True, slots=True)
class Pod:
    name: str
    pool: str
    phase: str
    """Pending (starting), Running, Terminating."""
    ready: bool
    started_at: float
    task: str | None = None
    waiting: str | None = None
    """Why it is not running yet, as the API says it (k9s's STATUS): a container's waiting
    reason (`ImagePullBackOff`, `CrashLoopBackOff`), or why it is not scheduled
    (`Unschedulable`); None when nothing waits."""
    waiting_message: str = ""
    """The API's words on it (`0/3 nodes are available: 3 Insufficient cpu.`)."""


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    """One of the cluster's Events about a pool's Deployment or one of its pods, as `kubectl
    describe` lists them under Events."""

    last_seen: float
    """When it last happened (seconds since the epoch)."""
    type: str
    """Normal or Warning."""
    reason: str
    """`ScalingReplicaSet`, `FailedScheduling`, `BackOff`, agentdash's `AgentdashRescale`."""
    message: str
    source: str
    """Who reported it: `deployment-controller`, `default-scheduler`, `kubelet`, `agentdash`."""
    count: int = 1
    """How often it happened (the API folds repeats into one Event)."""


@dataclass(frozen=True, slots=True)
class PoolState:
    replicas: int
    ready: int
    pods: tuple[Pod, ...] = ()


class SourceError(Exception):
    """A source could not answer; the pools it feeds go stale, never down."""


class PoolUnavailable(SourceError):
    """This pool cannot be scaled now (see the message); the others may be fine."""

    def __init__(self, pool: str, reason: str, *, unanswered: bool = False) -> None:
        self.pool = pool
        self.reason = reason
        self.unanswered = unanswered
        """No answer came, or the API server did not know this process (401): a fault between
        this process and the cluster, which another controller may not share."""
        super().__init__(f"{pool}: {reason}")


class NotSent(PoolUnavailable):
    """The pool's call never left this process: its turn in the client's own budget came too
    late. Nothing changed and nothing failed (the API was not asked); decided again."""


class ScaleConflict(PoolUnavailable):
    """The pool's Deployment changed after the decision was read (someone else wrote it): the
    change was refused, not failed. Nothing is wrong; the pool is decided again on what is
    read next."""


def moment(ts: float, now: float | None = None) -> str:
    """A time as operators read it: HH:MM:SS where it falls on `now`'s day (UTC), with its
    date before on any other day, so that a pin ending tomorrow at 18:25 is not read as
    today's 18:25. Without `now` (a reason kept and read later does not know the reader's
    day), always with its date."""
    day = time.gmtime(ts)
    if now is not None and day[:3] == time.gmtime(now)[:3]:
        return time.strftime("%H:%M:%S", day)
    return time.strftime("%Y-%m-%d %H:%M:%S", day)


def utc(ts: float, now: float | None = None) -> str:
    """`moment` with its zone: `18:25:35 UTC` today, `2026-11-29 18:25:35 UTC` another day."""
    return f"{moment(ts, now)} UTC"


class Utc(float):
    """A time (epoch seconds) in a reason's arguments, shown as a time of day (HH:MM:SS UTC)
    when the reason is read: the engine builds a reason at every claim, a person reads a
    handful."""

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        return str(self)

    def __str__(self) -> str:
        # A time of day: the rules that quote these (cooldown, keep-alive) end within hours
        # of the decision that reads them.
        return time.strftime("%H:%M:%S UTC", time.gmtime(self))
