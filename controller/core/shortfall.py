"""Why a claim got less than it asked under a short shared ceiling: the reasons
controller.core.allocation adds, each with its numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.core.history import SUSTAINED_S, peer_sustained
from controller.core.model import Reason
from controller.core.room import EPS, Room

if TYPE_CHECKING:
    from controller.core.allocation import Claim


def explain_shortfall(claim: Claim, run: Room, tier: str, reserve: list[float]) -> None:
    """Which ceiling kept the claim short, and why it could not take what others have there:
    its demand is too recent, or the ceiling is all in use (shared by tier weight)."""
    target = claim.floor if claim.floor > claim.want else claim.want
    recent = _recent(claim)
    args: tuple[object, ...]
    told = len(claim.reasons)
    kept_above: int | None = None  # a short ceiling whose rest is set aside, and not taken
    for i, cost in run.shape.costs[claim.name]:
        ceiling = run.shape.ceilings[i]
        room = run.room[i]
        if room + EPS >= cost:
            continue
        if recent is not None and room + reserve[i] + EPS >= cost:
            # the room is other pools' and this demand is too recent to take it
            template, seconds = recent
            args = (ceiling.label, seconds, target, claim.granted)
            claim.reasons.append(Reason(rule=ceiling.rule, template=template, args=args))
            continue
        if room + reserve[i] + EPS >= cost:
            # Some other ceiling stopped it from taking that room (its own reason says so),
            # or a higher tier's time rules keep it, which no lower tier takes.
            if kept_above is None:
                kept_above = i
            continue
        per = f", {cost:g} {ceiling.unit} a replica" if ceiling.unit != "pods" else ""
        weight = run.shape.weights[claim.name]
        shared = (
            ""
            if ceiling.rule == "tenant max_pods"
            else f", shared by tier weight ({tier} here, weight {weight:g})"
        )
        args = (ceiling.label, per, shared, target, claim.granted)
        claim.reasons.append(
            Reason(rule=ceiling.rule, template="{} all in use{}{}: {} -> {}", args=args)
        )
    if kept_above is not None and len(claim.reasons) == told:
        # Without a reason of its own, the pool's last one would be an earlier rule's, whose
        # number is not what it gets.
        ceiling = run.shape.ceilings[kept_above]
        args = (ceiling.label, target, claim.granted)
        claim.reasons.append(Reason(rule=ceiling.rule, template=_HIGHER_KEEPS, args=args))


def _recent(claim: Claim) -> tuple[str, float] | None:
    """Why the demand may not take what other pools have, and how long it must last: too
    recent for any pool's, or for its own tier's (None: neither)."""
    if claim.steady is not None and claim.steady < claim.want:
        return _RECENT, SUSTAINED_S
    if claim.peer_steady is not None and claim.peer_steady < claim.want:
        return _RECENT_PEER, peer_sustained(claim.pool)
    return None


def explain_yield(claim: Claim, run: Room) -> None:
    """Which ceiling the replicas a time rule keeps yielded under."""
    for i, cost in run.shape.costs[claim.name]:
        if run.room[i] + EPS < cost:
            args = (claim.kept, run.shape.ceilings[i].label, claim.kept, claim.granted)
            claim.reasons.append(
                Reason(rule=run.shape.ceilings[i].rule, template=_YIELD, args=args)
            )
            return


_YIELD = "the {} replicas a time rule keeps yield to real demand ({} short): {} -> {}"
_RECENT = "{} in use by other pools; demand younger than {:g} s takes free room only: {} -> {}"
_HIGHER_KEEPS = (
    "{} in use: the rest a higher tier's time rules keep, which no lower tier takes: {} -> {}"
)
_RECENT_PEER = (
    "{} in use by other pools; demand younger than {:g} s takes no pod its own tier's time "
    "rules keep: {} -> {}"
)
