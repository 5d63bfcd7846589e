"""The brain's plain values that a backtest builds most (controller.core.model re-exports
them): the decision for each pool at each pass, and what was observed of it.

Records (controller.core.record) rather than named tuples: `make accel` compiles this module
to structs built at a tenth of a named tuple's cost, whose generated `__new__` runs as plain
Python even where the module building it is compiled. Like any record, they are equal by
their fields and not hashable.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from controller.core.record import Record

if TYPE_CHECKING:  # model imports this module, to re-export its records
    from controller.core.model import Reason


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
