"""What scales: the interface every actuator (Kubernetes, the demo's simulated cluster) gives
the loop. The loop does not care which one it has."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from controller.core.model import PoolState, ScaleDecision

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


class Actuator(Protocol):
    async def observe(self) -> Mapping[str, PoolState]:
        """Replicas per pool. Raises SourceError when the cluster cannot be read."""
        ...

    async def scale(self, pool: str, replicas: int) -> None: ...

    async def close(self) -> None:
        """Stop watching and let go of connections (the process may go on)."""
        ...
