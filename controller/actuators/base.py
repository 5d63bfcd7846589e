"""What scales: the interface every actuator (Kubernetes, the demo's simulated cluster) gives
the loop. The loop does not care which one it has."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from controller.core.model import ClusterEvent, PoolState, ScaleDecision

Fence = Callable[[], float | None]
"""The event loop's time by which a write started now must have landed (what is surely left
of the leader's lease), or None if it must not be started (no longer leading)."""


class Wanted(NamedTuple):
    """A change to make: the decision, and when (the loop's clock) it was made."""

    decision: ScaleDecision
    now: float


class Desire:
    """What the loop wants of one pool while its scale call waits for its turn in the API's
    budget: the newest decision wins, and None means write nothing (the pool is held now, or
    its change is no longer wanted). The actuator reads it when the write's turn comes, and
    may `listen` to move the write in the queue as the wish changes."""

    def __init__(self, wanted: Wanted) -> None:
        self.wanted: Wanted | None = wanted
        self._listener: Callable[[Wanted], None] | None = None

    def update(self, wanted: Wanted | None) -> None:
        self.wanted = wanted
        if wanted is not None and self._listener is not None:
            self._listener(wanted)

    def listen(self, listener: Callable[[Wanted], None] | None) -> None:
        """Call `listener` with each newer wish (None: stop)."""
        self._listener = listener


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
        desire: Desire | None = None,
    ) -> Wanted | None:
        """`fence`: asked before each write: by when it must land, or None not to send it.
        `desire`: read when the write's turn comes, instead of `decision`.
        Returns the change made (the newest wish, as of its turn), or None if nothing had
        to be written by then (no longer wanted, or the Deployment already had it)."""
        ...

    def take_landed(self, pool: str) -> Wanted | None:
        """A change of this pool's that landed though its call failed (its answer was lost),
        learned since by reading the Deployment: to be told and counted once."""
        ...

    @property
    def problems(self) -> Mapping[str, str]:
        """Pools it cannot observe or scale now, and why."""
        ...

    @property
    def left_by_choice(self) -> Collection[str]:
        """Of `problems`, the pools another autoscaler scales as their config lets it, their
        replicas read: the operator's choice, not a fault (the daemon stays ready)."""
        ...


@runtime_checkable
class EventSource(Protocol):
    """A cluster that tells its Events about an object, for the dashboard's drill-down (k9s's
    describe). Read when an operator looks, never by the loop."""

    async def events_of(self, pool: str, pod: str | None = None) -> Sequence[ClusterEvent]:
        """The Events of the pool's Deployment, or of one of its pods, oldest first.
        Raises SourceError when they cannot be read."""
        ...


class Actuator(Protocol):
    async def observe(self) -> Mapping[str, PoolState]:
        """Replicas per pool, of every pool whose replicas are read: an ExplainingActuator's
        `problems` names those it does not scale all the same. Raises SourceError when the
        cluster cannot be read."""
        ...

    async def scale(self, pool: str, replicas: int) -> None: ...

    async def close(self) -> None:
        """Stop watching and let go of connections (the process may go on)."""
        ...
