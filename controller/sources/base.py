"""What the loop reads through: where lag and token usage come from. The loop does not care
which implementation it has (JetStream or the observations file; NATS reports or Prometheus)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Protocol, runtime_checkable

from controller.core.model import QueueStats, Usage


class LagSource(Protocol):
    async def read(self, pools: Collection[str] | None = None) -> Mapping[str, QueueStats]:
        """Lag per pool (all, or just `pools`). Raises SourceError when the queue is
        unreachable."""
        ...

    def watch_idle(self, idle: set[str], wake: Callable[[str], None]) -> None:
        """Call `wake(pool)` as soon as a task reaches one of the `idle` pools."""
        ...


@runtime_checkable
class RefusalsSource(Protocol):
    def refused_tasks(self) -> str | None:
        """The pools whose tasks the queue has refused to store for a while, in words; None
        if none (controller.sources.refused_tasks)."""
        ...


class UsageSource(Protocol):
    def usage(self, now: float) -> Usage: ...
