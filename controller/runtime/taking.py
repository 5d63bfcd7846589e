"""What the live loop (controller.runtime.loop) does with the decisions a step made again: each
is noted as this process shows it (the leader's, on a follower), a pool left at zero joins the
pools a task wakes the loop for, and, while the loop acts, a change starts its scale call
(controller.runtime.actuation).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import NamedTuple

from controller.core.engine import Engine
from controller.core.held_claims import left_alone
from controller.core.model import ScaleDecision
from controller.runtime.actuation import ScaleCalls
from controller.runtime.leader_view import LeaderView


class Taken(NamedTuple):
    """What a tick took: the decisions made again, and the scale calls started."""

    decisions: list[ScaleDecision]
    calls: list[asyncio.Task[None]]


class DecisionTaker:
    """Each pool's decision as this process shows it, and the pools at zero."""

    def __init__(self, engine: Engine, scale_calls: ScaleCalls, pools: Iterable[str]) -> None:
        self.engine = engine
        self.scale_calls = scale_calls
        self.shown: dict[str, ScaleDecision] = {}
        """Each pool's decision as last made (the leader's, on a follower)."""
        self.idle: set[str] = set(pools)
        """The pools decided down to zero: a task reaching one wakes the loop at once."""

    def take(
        self,
        pools: list[int],
        now: float,
        *,
        acting: bool,
        dry_run: bool,
        leading: bool,
        leader_view: LeaderView,
    ) -> Taken:
        """Take the decisions of `pools` (those that may have changed): note them (the
        leader's, on a follower), mark the pools that went idle, and, while `acting`, act on
        the changes."""
        engine, names, told, idle = self.engine, self.engine.names, self.shown, self.idle
        leader = leader_view.decisions
        own = leading or not leader
        decisions = []
        calls = []
        scale_calls = self.scale_calls
        if not dry_run:
            scale_calls.end_dry_run()
        for i in pools:
            decision = engine.decision(i)
            decisions.append(decision)
            pool = names[i]
            if own or pool not in leader:
                told[pool] = decision
            # Not one KEDA keeps at zero: each of its tasks would tick the loop for nothing.
            if decision.desired == 0 and decision.observed and not left_alone(decision):
                idle.add(pool)
            else:
                idle.discard(pool)
            if not decision.changes:
                scale_calls.settled(pool, now)
            elif acting:
                call = scale_calls.act(i, decision, now, dry_run=dry_run)
                if call is not None:
                    calls.append(call)
        if not own:
            told.update(leader_view.unmerged())
        return Taken(decisions=decisions, calls=calls)
