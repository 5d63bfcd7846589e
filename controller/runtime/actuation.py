"""Acting on the engine's decisions: each pool's scale call as a task of its own, bounded by a
deadline and fenced by the lease; in a dry run, what it would call instead.

One pool's hung or failing call never delays another pool's decision or call: the loop does
not wait for the tasks, and a pool has one call outstanding at most. While it waits for its
turn in the API's budget, the pool's newer decisions replace the one it was started with
(the newest wish wins: `Desire`), and a pool that is held meanwhile, or whose change is no
longer wanted, has nothing written when its turn comes. Each call is fenced: it starts only
while this process leads, and only if the lease stays valid for its whole deadline, so a
stalled call can never land for a leader that has lost the lease. A request that was already
on its way when the call was cut may still reach the API server late: the actuator fences it
by the version it read (controller.actuators.kubernetes.objects.scale_patch), and a refusal
(`ScaleConflict`) is no failure: the pool is decided again on what is read next. A change
that landed though its call failed (its answer was lost), once the actuator learns of it, is
told and counted as any other.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from controller.actuators.base import Actuator, Desire, ExplainingActuator, Wanted
from controller.coordination.lease import Lease
from controller.core.engine import Engine
from controller.core.events import EventBus, ScaleEvent
from controller.core.model import (
    NotSent,
    PoolUnavailable,
    ScaleConflict,
    ScaleDecision,
    SourceError,
)
from controller.runtime.health import SourceHealth
from controller.runtime.put_backs import PutBacks

log = logging.getLogger("agentdash.loop")

CALL_DEADLINE_S = 3.0
"""The most one scale call may take, retries included (well inside the lease's TTL)."""
MIN_CALL_S = 0.25
"""A call is not started with less time than this left on the lease: the next tick renews."""
CONFLICTS_ARE_A_FIGHT = 3
"""A call refused for a conflict (409) is a race: another writer got there first, once. So
many in a row, with nothing landed between, are a fight that scales nothing: a failure of
the pool's scale calls (told once, counted, /healthz 503), not an info line a tick."""


@dataclass(frozen=True, slots=True)
class CutOff:
    since: float
    why: str
    """The first call that went unanswered, and what it met."""


class ScaleCalls:
    """The scale calls in flight, one task a pool, and the dry run's would-be changes.

    A call that ends well is told (a ScaleEvent) and counted by the engine's rate policies; one
    that fails or runs out of time marks "scale <pool>" failing in `health`, and the engine
    decides that pool again at its next step."""

    def __init__(
        self,
        actuator: Actuator,
        engine: Engine,
        health: SourceHealth,
        bus: EventBus,
        *,
        lease: Lease | None,
        leads: Callable[[], bool],
        deadline: float = CALL_DEADLINE_S,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.actuator = actuator
        self.engine = engine
        self.health = health
        self.bus = bus
        self.lease = lease
        self._leads = leads
        """Whether this process leads now (it may stop while a call is in flight)."""
        self.deadline = deadline
        self._timer = timer
        """The clock the lease's `valid_until` is on (monotonic)."""
        self._explaining = isinstance(actuator, ExplainingActuator)
        self.cut_off: CutOff | None = None
        """Since when every scale call has met no API server that answered, or knew this
        process (controller.runtime.leadership.Bench gives the lease up after a while)."""
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        """Pools with a scale call in flight."""
        self._desires: dict[str, Desire] = {}
        """What each pool with a call in flight wants written now."""
        self._index = {name: i for i, name in enumerate(engine.names)}
        self._conflicts: dict[str, int] = {}
        """Per pool, its calls refused for a conflict since one last landed or had nothing
        to write."""
        self._put_backs = PutBacks()
        """Another writer that keeps setting replicas between two reads (a fight, told)."""
        self._tick = -math.inf
        """The newest tick's time this has been told of."""
        self._would: dict[str, tuple[int, int]] = {}
        """Dry run: per pool, the change last told (current, desired), told again only when
        it changes."""

    def act(
        self, i: int, decision: ScaleDecision, now: float, *, dry_run: bool
    ) -> asyncio.Task[None] | None:
        """Act on pool i's change: start its call (the task), or, in a dry run, say what it
        would do. A pool whose previous call is still in flight starts no other: that call
        takes this decision as its newest wish, and the pool is decided again next step."""
        self._tick = max(self._tick, now)
        self._count_landed(decision.pool)
        if dry_run:
            self.tell_would(decision, now)
            return None
        desire = self._desires.get(decision.pool)
        if desire is not None:  # its call waits: the newest wish goes when its turn comes
            desire.update(Wanted(decision, now))
            self.engine.retry(i)
            return None
        return self._start(i, decision, now)

    def settled(self, pool: str, now: float) -> None:
        """The pool's decision changes nothing (it is held, or where it should be): a call
        still waiting writes nothing, its last call's failure is over, and a dry run tells
        its next would-be change afresh."""
        self._tick = max(self._tick, now)
        self._count_landed(pool)
        self._want_nothing(pool)
        self._would.pop(pool, None)
        if self._put_backs.fighting(pool, now):
            return  # between the other writer's writes: the fight goes on
        if f"scale {pool}" in self.health.problems:
            self.health.healthy(f"scale {pool}", now)

    def end_dry_run(self) -> None:
        """Not (or no longer) a dry run: a later one tells every would-be change afresh."""
        self._would.clear()

    def tell_would(self, decision: ScaleDecision, now: float) -> None:
        """Dry run: say what a pool would do, once for each would-be change (the decision
        stays the same tick after tick, since nothing is scaled)."""
        pool = decision.pool
        self._want_nothing(pool)  # a dry run writes nothing, from now on
        change = (decision.current, decision.desired)
        if self._would.get(pool) == change:
            return
        self._would[pool] = change
        reason = decision.main_reason
        log.info(
            "dry-run: %s would scale %d -> %d (%s: %s)", pool, *change, reason.rule, reason.detail
        )
        self.bus.publish(ScaleEvent.of(decision, now, dry_run=True))

    async def settle(self) -> None:
        """Wait for every scale call in flight (each ends by its deadline)."""
        while self.in_flight:
            await asyncio.wait(list(self.in_flight.values()))

    def deadline_now(self) -> float | None:
        """How long a scale call may take now: its deadline, cut to what is surely left of
        the lease; None if that is too little (or this process no longer leads)."""
        if self.lease is None:
            return self.deadline
        left = self.lease.valid_until - self._timer()
        deadline = self.deadline if self.deadline < left else left
        return deadline if deadline >= MIN_CALL_S and self._leads() else None

    def fence(self) -> float | None:
        """By when a write started now must land (the event loop's time), or None: for what
        an actuator writes after a call returned (see controller.actuators.kubernetes.scaler)."""
        left = self.deadline_now()
        return None if left is None else asyncio.get_running_loop().time() + left

    def _want_nothing(self, pool: str) -> None:
        desire = self._desires.get(pool)
        if desire is not None:
            desire.update(None)

    def _count_landed(self, pool: str) -> None:
        """Tell and count, once, a change the actuator learned had landed after its call."""
        if self._explaining:
            landed = cast(ExplainingActuator, self.actuator).take_landed(pool)
            if landed is not None:
                self._done(self._index[pool], landed)

    def _start(self, i: int, decision: ScaleDecision, now: float) -> asyncio.Task[None]:
        pool = decision.pool
        desire = Desire(Wanted(decision, now))
        call = asyncio.create_task(self._call(i, desire), name=f"scale {pool}")
        self.in_flight[pool] = call
        self._desires[pool] = desire

        def ended(_: object) -> None:
            self.in_flight.pop(pool, None)
            self._desires.pop(pool, None)

        call.add_done_callback(ended)
        return call

    async def _call(self, i: int, desire: Desire) -> None:
        """Pool i's call, within what the lease allows; told, and counted, when it lands."""
        assert desire.wanted is not None
        decision, now = desire.wanted
        pool = decision.pool
        deadline = self.deadline_now()
        if deadline is None:
            log.info("not scaling %s now: the lease is not surely ours for the call", pool)
            self.engine.retry(i)
            return
        # An explaining actuator bounds its writes by the fence itself, and may then read
        # back a write whose answer was lost, within a deadline of its own: room for both,
        # and then some (this bound only guards against an actuator that hangs).
        bound = deadline * 3 if self._explaining else deadline
        try:
            async with asyncio.timeout(bound):  # (no extra task, as wait_for makes)
                made = await self._scale(decision, now, desire)
        except ScaleConflict as exc:
            self._answered()
            # Another writer got there first (a new leader, a person): nothing failed, and
            # the pool is decided again on what is read next. Refused time after time, it is
            # a fight with another writer (an HPA, a script), which scales nothing: a failure.
            conflicts = self._conflicts[pool] = self._conflicts.get(pool, 0) + 1
            if conflicts >= CONFLICTS_ARE_A_FIGHT:
                fight = f"{exc.reason}, {conflicts} times in a row: is another writer scaling it?"
                self._failed(i, pool, fight, now)
                return
            log.info("%s: not scaled: %s; deciding again", pool, exc.reason)
            self.engine.retry(i)
            return
        except NotSent as exc:
            # Waiting for our own client's budget is no failure of the API's: decided again.
            log.debug("%s: %s; deciding again", pool, exc.reason)
            self.engine.retry(i)
            return
        except PoolUnavailable as exc:
            self._failed(i, pool, exc.reason, now, unanswered=exc.unanswered)  # that pool only
            return
        except SourceError as exc:
            self._failed(i, pool, str(exc), now)
            return
        except TimeoutError:
            if self.deadline_now() is None:
                # The lease ran out on the call too: this process was frozen (SIGSTOP, a VM
                # paused) or lost it meanwhile. No failure of the API's, which may never have
                # been asked; whoever leads now decides the pool.
                log.info("%s: not scaled: the lease ran out before the call ended", pool)
                self.engine.retry(i)
                return
            self._failed(i, pool, f"no answer within {bound:.1f} s", now, unanswered=True)
            return
        self._conflicts.pop(pool, None)
        if made is None:  # nothing had to be written by its turn: decided again
            self.health.healthy(f"scale {pool}", now)
            self.engine.retry(i)
            return
        self._done(i, made)

    def _done(self, i: int, made: Wanted) -> None:
        """A change landed: told, and counted by the engine's rate policies."""
        decision, now = made
        pool = decision.pool
        self._answered()
        self.health.healthy(f"scale {pool}", now)
        self.engine.scaled(i, now, decision.current, decision.desired)
        self.bus.publish(ScaleEvent.of(decision, now))
        fight = self._put_backs.landed(pool, decision.current, decision.desired, now, self._tick)
        if fight is not None:
            self.health.unhealthy(f"scale {pool}", fight, now)

    def _failed(self, i: int, pool: str, why: str, now: float, *, unanswered: bool = False) -> None:
        self.health.unhealthy(f"scale {pool}", why, now)
        self.engine.retry(i)
        if not unanswered:
            self._answered()
        elif self.cut_off is None:
            self.cut_off = CutOff(since=now, why=f"scale {pool}: {why}")

    def _answered(self) -> None:
        """The API server answered this process: it is not cut off from the cluster."""
        self.cut_off = None

    async def _scale(self, decision: ScaleDecision, now: float, desire: Desire) -> Wanted | None:
        """The change made (the newest wish, with an explaining actuator), or None."""
        if self._explaining:
            return await cast(ExplainingActuator, self.actuator).scale_with_reason(
                decision.pool, decision.desired, decision, now, self.fence, desire
            )
        await self.actuator.scale(decision.pool, decision.desired)
        return Wanted(decision, now)
