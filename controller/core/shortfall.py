"""Why a claim got less than it asked under a short shared ceiling: the reasons
controller.core.allocation adds, each with its numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.core.history import SUSTAINED_S
from controller.core.model import Reason
from controller.core.room import EPS, Room

if TYPE_CHECKING:
    from controller.core.allocation import Claim


def explain_shortfall(
    claim: Claim,
    run: Room,
    closed: set[int],
    tier: str,
    reserve: list[float],
    lower: list[list[Claim]],
) -> None:
    """Which ceiling kept the claim short, and why it could not take what others have there:
    a higher tier is short of it, its demand is too recent, or it is all in use."""
    target = claim.floor if claim.floor > claim.want else claim.want
    recent = claim.steady is not None and claim.steady < claim.want
    args: tuple[object, ...]
    for i, cost in run.shape.costs[claim.name]:
        ceiling = run.shape.ceilings[i]
        room = run.room[i]
        if room + EPS >= cost:
            if i in closed:
                args = (ceiling.label, tier, target, claim.granted)
                claim.reasons.append(Reason(ceiling.rule, _CLOSED, args))
            continue
        if i in closed and room + reserve[i] + EPS >= cost:
            args = (ceiling.label, tier, target, claim.granted)
            claim.reasons.append(Reason(ceiling.rule, _CLOSED, args))
            continue
        if recent and room + reserve[i] + _preemptible(run, lower, i) + EPS >= cost:
            # the room is other pools' and this demand is too recent to take it
            args = (ceiling.label, SUSTAINED_S, target, claim.granted)
            claim.reasons.append(Reason(ceiling.rule, _RECENT, args))
            continue
        if room + reserve[i] + EPS >= cost:
            continue  # some other ceiling stopped it from taking that room
        per = f", {cost:g} {ceiling.unit} a replica" if ceiling.unit != "pods" else ""
        shared = "" if ceiling.rule == "tenant max_pods" else f", shared by tier ({tier} here)"
        args = (ceiling.label, per, shared, target, claim.granted)
        claim.reasons.append(Reason(ceiling.rule, "{} all in use{}{}: {} -> {}", args))


def _preemptible(run: Room, lower: list[list[Claim]], i: int) -> float:
    """What lower tiers' replicas beyond their floors take of ceiling i."""
    costs = run.shape.costs
    return sum(
        (c.granted - c.floor) * cost
        for claims in lower
        for c in claims
        if c.granted > c.floor
        for j, cost in costs[c.name]
        if j == i
    )


def explain_preemption(
    run: Room,
    lasting: list[Claim],
    before: list[int],
    blocked: list[set[int]],
    took: list[Claim],
    had: dict[str, int],
    tier: str,
    preempted: list[tuple[Claim, Reason]],
) -> None:
    """Say on each side of a preemption what moved, under which ceiling, and why."""
    shape = run.shape
    args: tuple[object, ...]
    lost = ", ".join(f"{c.name} {c.granted - had[c.name]}" for c in took)
    freed = set().union(*(shape.drawn[c.name] for c in took))
    bound: set[int] = set()
    for claim, was, full in zip(lasting, before, blocked, strict=True):
        if claim.granted > was:
            bound |= full
            where = shape.ceilings[_first(full & freed, full, shape.drawn[claim.name])]
            args = (where.label, claim.granted - was, lost, SUSTAINED_S, was, claim.granted)
            claim.reasons.append(Reason(where.rule, _PREEMPTS, args))
    for claim in took:
        drawn = shape.drawn[claim.name]
        where = shape.ceilings[_first(drawn & bound, drawn)]
        args = (where.label, tier, SUSTAINED_S, had[claim.name] - claim.granted,
                had[claim.name], claim.granted)  # fmt: skip
        preempted.append((claim, Reason(where.rule, _PREEMPTED, args)))


def _first(*candidates: set[int] | frozenset[int]) -> int:
    """The lowest index of the first candidate set that is not empty."""
    return min(next(c for c in candidates if c))


def explain_yield(claim: Claim, run: Room, closed: set[int]) -> None:
    """Which ceiling the replicas a time rule keeps yielded under."""
    for i, cost in run.shape.costs[claim.name]:
        if run.room[i] + EPS < cost or i in closed:
            args = (claim.kept, run.shape.ceilings[i].label, claim.kept, claim.granted)
            claim.reasons.append(Reason(run.shape.ceilings[i].rule, _YIELD, args))
            return


_YIELD = (
    "the {} replicas a time rule keeps yield to real demand of this tier or a higher one ({} "
    "short): {} -> {}"
)
_PREEMPTS = (
    "{}: {} replicas taken from lower tiers' pods ({}), for demand that has lasted {:g} s: {} -> {}"
)
_PREEMPTED = (
    "{}: tier {}'s demand has lasted {:g} s, so {} of the replicas here make room for it (the "
    "lowest tier first; an idle pod goes first, then the newest, a busy one finishing its task "
    "within its grace period): {} -> {}"
)
_RECENT = "{} in use by other pools; demand younger than {:g} s takes free room only: {} -> {}"
_CLOSED = (
    "{}: a higher tier is still short of it, so no growth beyond the floor ({} here): {} -> {}"
)
