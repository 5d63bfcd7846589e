"""The in-process event bus: scale events, source health and operator actions, for the
dashboard, the logs and the metrics. Publishing never blocks the loop: a slow reader loses
its oldest events, never the controller's time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from controller.core.model import Reason, ScaleDecision


@dataclass(frozen=True, slots=True)
class ScaleEvent:
    ts: float
    pool: str
    old: int
    new: int
    reasons: tuple[Reason, ...]
    dry_run: bool = False
    """What the pool would do: nothing was scaled (dry-run). Told once for each would-be
    change, and never counted, shown or logged as a scale (`kind`)."""

    @property
    def kind(self) -> str:
        return "dry-run" if self.dry_run else "scale"

    @property
    def direction(self) -> str:
        return "up" if self.new > self.old else "down"

    @classmethod
    def of(cls, decision: ScaleDecision, ts: float, dry_run: bool = False) -> ScaleEvent:
        return cls(ts, decision.pool, decision.current, decision.desired, decision.reasons, dry_run)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "ts": round(self.ts, 3),
            "pool": self.pool,
            "from": self.old,
            "to": self.new,
            "direction": self.direction,
            "reasons": [r.as_dict() for r in self.reasons],
            **({"dry_run": True} if self.dry_run else {}),
        }


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """A source or the actuator went stale, or recovered."""

    ts: float
    source: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "health",
            "ts": round(self.ts, 3),
            "source": self.source,
            "ok": self.ok,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class TickEvent:
    """One reconcile pass: the decisions it made again (the pools whose inputs changed; the
    loop's `decisions` holds every pool's latest), and what the pass cost."""

    ts: float
    decisions: tuple[ScaleDecision, ...]
    duration_s: float


@dataclass(frozen=True, slots=True)
class ActionEvent:
    """An operator action (pin, pause, ...), with who did it."""

    ts: float
    who: str
    action: str
    target: str
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "action",
            "ts": round(self.ts, 3),
            "who": self.who,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
        }


Event = ScaleEvent | HealthEvent | TickEvent | ActionEvent


@dataclass(slots=True)
class EventBus:
    """Fan-out to any number of readers, each with its own bounded queue."""

    size: int = 1000
    _readers: list[asyncio.Queue[Event]] = field(default_factory=list)

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self.size)
        self._readers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        if queue in self._readers:
            self._readers.remove(queue)

    def publish(self, event: Event) -> None:
        for queue in self._readers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)
