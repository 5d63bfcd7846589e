"""The brain's plain values that a backtest builds most (controller.core.model re-exports
them): what was observed of each pool at each reading, what its tenant may have in flight,
and the decision for it at each pass, with the reasons for it.

Records (controller.core.record) rather than named tuples: `make accel` compiles this module
to structs built at a tenth of a named tuple's cost, whose generated `__new__` runs as plain
Python even where the module building it is compiled. Like any record, they are equal by
their fields and not hashable.
"""

from __future__ import annotations

import math
import re
from typing import Final

from controller.core.record import Record

_ONE: Final = re.compile(r"(?<![\d.,])1 (gap|pod|read|replica|request|round|task|token|wake)s\b")
"""A count of one in a reason's text, before a plural noun: the templates say `{} replicas`
for any count, and a reason reads "1 replica". Applied when the text is read, not built."""


class Reason(Record):
    """One rule that shaped a decision, with the numbers it used.

    The text is a `str.format` template and its arguments, formatted only when read: a pass
    over a thousand pools builds every reason, but a person reads a handful of them.
    """

    FIELDS = ("rule", "template", "args")
    __slots__ = FIELDS

    rule: str
    template: str
    args: tuple[object, ...]

    def __init__(self, *, rule: str, template: str, args: tuple[object, ...] = ()) -> None:
        self.rule = rule
        self.template = template
        self.args = args

    @property
    def detail(self) -> str:
        if not self.args:
            return self.template
        return _ONE.sub(r"1 \1", self.template.format(*self.args))

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "detail": self.detail}


class PoolObservation(Record):
    """One pool at one moment, as the sources saw it."""

    FIELDS = (
        "pending",
        "ack_pending",
        "replicas",
        "ready",
        "arrival_rate",
        "mean_task_seconds",
        "task_tokens",
        "stale",
        "stale_reads",
    )
    __slots__ = FIELDS

    pending: int
    ack_pending: int
    replicas: int
    ready: int
    arrival_rate: float | None
    """Tasks a second arriving on the pool's subject, if known."""
    mean_task_seconds: float | None
    """Mean time one task takes to work, if known."""
    task_tokens: float | None
    """Tokens one of its tasks spends, from its workers' reports, if known
    (controller.core.accounting.TokensATask)."""
    stale: str | None
    """Why this pool's data cannot be trusted now; a stale pool holds its replicas."""
    stale_reads: int
    """How many reads in a row have been stale (for the pool's `fallback`)."""

    def __init__(
        self,
        *,
        pending: int,
        ack_pending: int,
        replicas: int,
        ready: int = 0,
        arrival_rate: float | None = None,
        mean_task_seconds: float | None = None,
        task_tokens: float | None = None,
        stale: str | None = None,
        stale_reads: int = 0,
    ) -> None:
        self.pending = pending
        self.ack_pending = ack_pending
        self.replicas = replicas
        self.ready = ready
        self.arrival_rate = arrival_rate
        self.mean_task_seconds = mean_task_seconds
        self.task_tokens = task_tokens
        self.stale = stale
        self.stale_reads = stale_reads

    def __eq__(self, other: object) -> bool:
        # Field by field rather than Record's loop by name: the engine compares each reading
        # with the pool's last one, to skip those that changed nothing.
        if not isinstance(other, PoolObservation):
            return NotImplemented
        return (
            self.pending == other.pending
            and self.ack_pending == other.ack_pending
            and self.replicas == other.replicas
            and self.ready == other.ready
            and self.arrival_rate == other.arrival_rate
            and self.mean_task_seconds == other.mean_task_seconds
            and self.task_tokens == other.task_tokens
            and self.stale == other.stale
            and self.stale_reads == other.stale_reads
        )

    @property
    def lag(self) -> int:
        """What KEDA's nats-jetstream scaler calls lag: not yet delivered + not yet acked."""
        return self.pending + self.ack_pending


class InFlight(Record):
    """The most a tenant's pools may have in flight at once: in each pool at most its
    max_replicas x concurrency, and never more than the tasks it holds (a stale reading none).
    Summed over the pools whose tokens a task are known, in tokens; over the others, in tasks."""

    FIELDS = ("tokens", "tasks")
    __slots__ = FIELDS

    tokens: float
    tasks: int

    def __init__(self, *, tokens: float = 0.0, tasks: int = 0) -> None:
        self.tokens = tokens
        self.tasks = tasks

    def spend(self, each: float | None) -> float:
        """What they would spend, the tasks of unpriced pools at the tenant's `each` tokens a
        task (None: not known, so not counted)."""
        return self.tokens + self.tasks * each if each else self.tokens


class ScaleDecision(Record):
    """What the policy decided for one pool, and why (reasons in the order they applied)."""

    FIELDS = (
        "pool",
        "tenant",
        "current",
        "desired",
        "reasons",
        "recommendation",
        "held",
        "observed",
        "until",
    )
    __slots__ = FIELDS

    pool: str
    tenant: str
    current: int
    desired: int
    reasons: tuple[Reason, ...]
    recommendation: int
    """The pool's own target before time rules and shared ceilings (kept in history)."""
    held: bool
    """The data could not be trusted: leave the pool exactly as it is."""
    observed: bool
    """False when no observation existed at all: current is unknown, not zero."""
    until: float
    """When this decision may change by time alone (a pin or pause expires, a window or
    rate limit or cooldown lets go): what the dashboard counts down for a held pool."""

    def __init__(
        self,
        *,
        pool: str,
        tenant: str,
        current: int,
        desired: int,
        reasons: tuple[Reason, ...],
        recommendation: int = 0,
        held: bool = False,
        observed: bool = True,
        until: float = math.inf,
    ) -> None:
        self.pool = pool
        self.tenant = tenant
        self.current = current
        self.desired = desired
        self.reasons = reasons
        self.recommendation = recommendation
        self.held = held
        self.observed = observed
        self.until = until

    def held_at_current(self, told: Reason) -> ScaleDecision:
        """This decision held where the pool is, `told` why after its own reasons."""
        return ScaleDecision(
            pool=self.pool,
            tenant=self.tenant,
            current=self.current,
            desired=self.current,
            reasons=(*self.reasons, told),
            recommendation=self.recommendation,
            held=True,
            observed=self.observed,
            until=math.inf,
        )

    @property
    def main_reason(self) -> Reason:
        """The last rule that bound: the one a person asks about first."""
        return self.reasons[-1]

    @property
    def changes(self) -> bool:
        return not self.held and self.desired != self.current

    def as_dict(self) -> dict[str, object]:
        return {
            "pool": self.pool,
            "tenant": self.tenant,
            "current": self.current if self.observed else None,
            "desired": self.desired if self.observed else None,
            "reasons": [r.as_dict() for r in self.reasons],
        }
