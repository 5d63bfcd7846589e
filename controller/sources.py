"""The interfaces the loop is built on: where lag, token usage and replicas come from, and
what scales. The loop does not care which implementation it has."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from controller.model import ScaleDecision

RATE_WINDOW_S = 30.0
"""Arrival rates are averaged over this many seconds (the live source and the simulator)."""


@dataclass(frozen=True, slots=True)
class QueueStats:
    pending: int
    ack_pending: int
    arrival_rate: float | None = None
    """Tasks a second reaching the pool's subject, if measured."""
    stale: str | None = None
    """Why this pool's queue could not be read (the others may be fine)."""


@dataclass(frozen=True, slots=True)
class Usage:
    tokens_today: Mapping[str, int]
    mean_task_seconds: Mapping[str, float] = field(default_factory=dict)
    """Per pool, from the workers' reports."""
    stale: str | None = None
    """Why these are the last known values rather than fresh ones."""


@dataclass(frozen=True, slots=True)
class Pod:
    name: str
    pool: str
    phase: str
    """Pending (starting), Running, Terminating."""
    ready: bool
    started_at: float
    task: str | None = None


@dataclass(frozen=True, slots=True)
class PoolState:
    replicas: int
    ready: int
    pods: tuple[Pod, ...] = ()


class SourceError(Exception):
    """A source could not answer; the pools it feeds go stale, never down."""


class PoolUnavailable(SourceError):
    """This pool cannot be scaled now (see the message); the others may be fine."""

    def __init__(self, pool: str, reason: str) -> None:
        self.pool = pool
        self.reason = reason
        super().__init__(f"{pool}: {reason}")


class LagSource(Protocol):
    async def read(self, pools: Collection[str] | None = None) -> Mapping[str, QueueStats]:
        """Lag per pool (all, or just `pools`). Raises SourceError when the queue is
        unreachable."""
        ...

    def watch_idle(self, idle: set[str], wake: Callable[[str], None]) -> None:
        """Call `wake(pool)` as soon as a task reaches one of the `idle` pools."""
        ...


Fence = Callable[[], float | None]
"""The event loop's time by which a write started now must have landed (what is surely left
of the leader's lease), or None if it must not be started (no longer leading)."""


@runtime_checkable
class ExplainingActuator(Protocol):
    """An actuator that also records why it scaled (on Kubernetes: an annotation and an
    Event on the Deployment, so `kubectl describe` shows the reason)."""

    async def scale_with_reason(
        self,
        pool: str,
        replicas: int,
        decision: ScaleDecision,
        now: float,
        fence: Fence | None = None,
    ) -> None:
        """`fence`: asked before any write made after the call returned (the reason, said
        later when other pools' scales wait): by when it must land, or None not to send it."""
        ...

    @property
    def problems(self) -> Mapping[str, str]:
        """Pools it cannot observe or scale now, and why."""
        ...


class UsageSource(Protocol):
    def usage(self, now: float) -> Usage: ...


class Actuator(Protocol):
    async def observe(self) -> Mapping[str, PoolState]:
        """Replicas per pool. Raises SourceError when the cluster cannot be read."""
        ...

    async def scale(self, pool: str, replicas: int) -> None: ...

    async def close(self) -> None:
        """Stop watching and let go of connections (the process may go on)."""
        ...


class Lease(Protocol):
    """Who may actuate. Only the holder scales; the others follow."""

    holder: str
    leader_name: str | None

    @property
    def valid_until(self) -> float:
        """time.monotonic() until which no other process can hold the lease: the loop starts
        a call to the cluster only if it ends, deadline included, before then."""
        ...

    async def renew(self) -> bool: ...

    async def release(self) -> None: ...
