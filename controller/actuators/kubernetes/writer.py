"""Scaling one pool: the PATCH of its Deployment's `scale` subresource, never blind.

- **Built when its turn comes.** The call waits for its turn in the API's budget (ranked by
  controller.actuators.kubernetes.budget.scale_priority, moved as the pool's wish changes);
  only then is the PATCH made, from the newest wish (`Desire`) and the Deployment as last
  read. Nothing is sent for a pool the loop no longer wants written (held, or settled),
  for one that has become unscalable meanwhile, or when the Deployment already has the
  replicas wanted.
- **Fenced.** The PATCH names the resourceVersion read (objects.scale_patch), so the API
  server refuses it (409) if anyone wrote the Deployment since, a late PATCH from a deposed
  leader included. That refusal, like a decision on replicas the Deployment no longer has,
  is a `ScaleConflict`: not retried, no failure, and the loop decides the pool again.
- **Read back when in doubt.** A PATCH that was sent and got no answer may have landed:
  what became of it is known before the pool is decided again
  (controller.actuators.kubernetes.read_back).

A write that fails is that pool's failure (`PoolUnavailable`), whatever the cause (a 5xx, no
answer by the deadline): the others may be fine. Unless the API refused it (403) or the
Deployment is gone, the pool stays observed, so the next tick tries again.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from controller.actuators.base import Desire, Fence, Wanted
from controller.actuators.kubernetes.api import ApiFailure, KubeApi
from controller.actuators.kubernetes.budget import Priority, Turn, scale_priority
from controller.actuators.kubernetes.deletion_cost import IdleFirst
from controller.actuators.kubernetes.discovery import RBAC_HINT, Discovery, Refusal
from controller.actuators.kubernetes.keda import KedaPause
from controller.actuators.kubernetes.objects import scale_patch, scaled
from controller.actuators.kubernetes.read_back import (
    Change,
    ReadBack,
    Sent,
    replicas_of,
    where,
    why,
)
from controller.actuators.kubernetes.reasons import ReasonTeller, Untold
from controller.core.config import DeploymentRef
from controller.core.model import NotSent, PoolUnavailable, ScaleConflict
from controller.core.wording import plural

FIRST_RECHECK_S = 1.0
"""After a pool's first 403 since its last scale that landed: how soon to ask again."""

log = logging.getLogger("agentdash.kube")


class Patched(NamedTuple):
    """A scale PATCH that landed: what was sent, and the answer (or the read-back)."""

    sent: Sent
    answer: Any
    learned: str = ""
    """How it was learned to have landed, if not by its answer (which was lost)."""


class _Landed(Exception):
    """An earlier try of this PATCH was applied, though its answer was an error."""


class NothingToSend(Exception):
    """By its turn, the change was no longer wanted, or the Deployment already had it."""


class ScaleWriter:
    """The scale calls of every pool (see the module)."""

    def __init__(
        self,
        api: KubeApi,
        discovery: Discovery,
        reasons: ReasonTeller,
        *,
        keda: KedaPause,
        idle_first: IdleFirst | None,
        tiers: dict[str, int],
        recheck_s: float,
        dry_run: bool,
    ) -> None:
        self._api = api
        self._discovery = discovery
        self._reasons = reasons
        self._keda = keda
        self._idle_first = idle_first
        self._tiers = tiers
        self._recheck_s = recheck_s
        self.dry_run = dry_run
        self._read_back = ReadBack(api, discovery, reasons)

    def take_landed(self, pool: str) -> Wanted | None:
        return self._read_back.take_landed(pool)

    def settle_doubts(self) -> None:
        """What the watch says of the PATCHes whose answers were lost."""
        self._read_back.settle_from_watch()

    async def scale(
        self, pool: str, change: Change, fence: Fence | None, desire: Desire | None
    ) -> Change | None:
        """Make the change (the newest wish at its turn): what was made, or None if nothing
        had to be. Raises PoolUnavailable (ScaleConflict: decide again)."""
        deadline = self._api.deadline()  # for all of it: marks, scale, annotation, Event
        if fence is not None:
            by = fence()
            if by is None:
                raise PoolUnavailable(pool, "not sent: this process no longer leads")
            deadline = min(deadline, by)
        with self._reasons.scaling():
            patched = await self._scale_first(pool, change, deadline, fence, desire)
        if patched is None:
            return None
        sent = patched.sent
        untold = Untold(
            self._discovery.pools[pool],
            sent.deployment,
            sent.change.replicas,
            sent.previous,
            sent.change.decision,
            sent.change.now,
            deadline,
        )
        if patched.learned:  # its deadline may be spent: said later, if the fence allows
            self._reasons.queue(pool, untold._replace(deadline=self._api.deadline()), fence)
        else:
            await self._reasons.tell(pool, untold, fence)
        return sent.change

    async def _scale_first(
        self,
        pool: str,
        change: Change,
        deadline: float,
        fence: Fence | None,
        desire: Desire | None,
    ) -> Patched | None:
        """The scale itself, and what must precede it: what landed, unless nothing was sent."""
        ref = self._discovery.pools[pool]
        await self._discovery.start(deadline)
        self._check(pool, change.now)
        await self._read_back.settle_first(pool)  # its last scale's outcome, before another
        namespace = self._discovery.of(pool)
        if pool in self._discovery.take_over:
            try:  # before the scale: KEDA's HPA must not undo it
                await self._keda.pause(
                    pool, ref.name, namespace.scaled_objects, deadline, dry_run=self.dry_run
                )
            except ApiFailure as failure:
                raise self._refusal(pool, ref, failure, change.now, "pause KEDA") from failure
        deployment = namespace.deployments.objects[ref.name]
        previous = replicas_of(deployment)
        if self.dry_run:
            log.info(
                "dry-run: would scale Deployment %s/%s from %d to %d%s",
                *(ref.namespace, ref.name, previous, change.replicas, why(change.decision)),
            )
            return None
        newest = _newest(change, desire)
        if newest is None or newest.replicas == previous:
            return None
        _check_current(pool, ref, newest, previous)
        if self._idle_first is not None and newest.replicas < previous:
            victims = previous - newest.replicas
            await self._idle_first.mark(
                *(pool, namespace.pods, deployment, victims, change.now, deadline),
                priority=self._priority(pool, newest),
            )
        try:
            patched = await self._patch(pool, ref, newest, deadline, fence, desire)
        except NothingToSend:
            return None
        sent = patched.sent
        self._discovery.refused.pop(pool, None)  # a later 403 is a first one again
        log.info(
            "scaled Deployment %s/%s from %d to %d%s%s",
            *(ref.namespace, ref.name, sent.previous, sent.change.replicas),
            why(sent.change.decision),
            f" ({patched.learned}, it had landed)" if patched.learned else "",
        )
        # The watch will say so too; until it does, the next observation must not undo this.
        namespace.deployments.objects[ref.name] = scaled(
            sent.deployment, sent.change.replicas, patched.answer
        )
        return patched

    async def _patch(
        self,
        pool: str,
        ref: DeploymentRef,
        change: Change,
        deadline: float,
        fence: Fence | None,
        desire: Desire | None,
    ) -> Patched:
        """The PATCH, made when its turn comes; raises NothingToSend if nothing had to be."""
        deployments = self._discovery.of(pool).deployments
        turn = Turn(self._priority(pool, change))
        if desire is not None:
            desire.listen(lambda wanted: turn.reprioritize(self._priority(pool, Change.of(wanted))))
        sent: list[Sent] = []

        def at_turn() -> tuple[Any, ...]:
            newest = _newest(change, desire)
            if newest is None:
                raise NothingToSend("no longer wanted")
            self._check(pool, newest.now)
            deployment = deployments.objects[ref.name]
            current = replicas_of(deployment)
            if sent and current == sent[0].change.replicas:
                raise _Landed  # an earlier try, answered with an error, was applied all the same
            if newest.replicas == current:
                raise NothingToSend("already there")
            _check_current(pool, ref, newest, current)
            sent[:] = [Sent(newest, current, deployment, fence)]
            return (ref.name, ref.namespace, scale_patch(newest.replicas, deployment))

        try:
            answer = await self._api.call(
                f"patch deployments/scale {ref.namespace}/{ref.name}",
                self._api.apps.patch_namespaced_deployment_scale_without_preload_content,
                deadline=deadline,
                priority=turn,
                at_turn=at_turn,
            )
        except _Landed:
            answer = deployments.objects[ref.name]
            return Patched(sent[0], answer, "an earlier try was answered with an error")
        except ApiFailure as failure:
            if not (failure.in_doubt and sent):
                raise self._refusal(pool, ref, failure, change.now) from failure
            answer = await self._read_back.after_lost_answer(pool, sent[0], failure)
            return Patched(sent[0], answer, "its answer was lost; read back")
        finally:
            if desire is not None:
                desire.listen(None)
        return Patched(sent[0], answer)

    def _priority(self, pool: str, change: Change) -> Priority:
        ref = self._discovery.pools[pool]
        deployment = self._discovery.of(pool).deployments.objects.get(ref.name)
        current = change.replicas if deployment is None else replicas_of(deployment)
        return scale_priority(current, change.replicas, self._tiers.get(pool, 0))

    def _check(self, pool: str, now: float) -> None:
        problem = self._discovery.problem(pool, now)
        if problem is not None:
            self._discovery.problems[pool] = problem
            raise PoolUnavailable(pool, problem)

    def _refusal(
        self, pool: str, ref: DeploymentRef, failure: ApiFailure, now: float, doing: str = "scale"
    ) -> PoolUnavailable:
        if failure.conflict:
            # Fenced by the version read (objects.scale_patch): someone wrote it since.
            return ScaleConflict(pool, f"{where(ref)} changed since it was read (409)")
        if failure.not_found:
            # Gone: forget it until the watch sees it again.
            self._discovery.of(pool).deployments.objects.pop(ref.name, None)
            reason = f"{where(ref)} not found"
        elif failure.forbidden:
            reason = f"{failure} ({RBAC_HINT} in namespace {ref.namespace})"
            # The first 403 since a scale landed is asked again at the next tick: a
            # kube-apiserver just restarted refuses for a moment while its authorizer loads
            # the RBAC rules, and the pool's cached Deployment let the loop ask at once.
            again = pool in self._discovery.refused
            wait = self._recheck_s if again else FIRST_RECHECK_S
            self._discovery.refused[pool] = Refusal(reason, now + wait)
        elif not failure.sent:
            # Its turn in our own budget came too late: the API was not asked, nothing failed.
            return NotSent(pool, f"cannot {doing} now: {failure}")
        else:
            # Passing, perhaps (5xx, no answer by the deadline): still observed, the pool is
            # tried again next tick. Told by the loop, which knows when it stops failing.
            return PoolUnavailable(pool, f"cannot {doing}: {failure}", unanswered=failure.cut_off)
        self._discovery.problems[pool] = reason
        log.debug("%s: not scaled: %s", pool, reason)  # told by the loop, with its health
        return PoolUnavailable(pool, reason)


def _newest(change: Change, desire: Desire | None) -> Change | None:
    """The change wanted now: the newest wish, if the loop keeps one; None: none."""
    if desire is None:
        return change
    return None if desire.wanted is None else Change.of(desire.wanted)


def _check_current(pool: str, ref: DeploymentRef, change: Change, current: int) -> None:
    if change.decision is not None and change.decision.current != current:
        raise ScaleConflict(
            pool,
            f"{where(ref)} has {plural(current, 'replica')} now, not the {change.decision.current} "
            "decided on",
        )
