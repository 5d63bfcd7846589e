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
- **Read back when in doubt.** A PATCH that was sent and got no answer (cut by its deadline,
  its connection broken) may have landed. It is read back at once (GET of the scale
  subresource, a discovery read that goes ahead of the scale calls): a change that landed
  is a scale like any other (logged once, with its reason said, and counted by the loop);
  one that did not is the pool's failure. If even the read-back fails, the doubt is kept:
  the watch settles it, or the pool's next scale reads it back first.

A write that fails is that pool's failure (`PoolUnavailable`), whatever the cause (a 5xx, no
answer by the deadline): the others may be fine. Unless the API refused it (403) or the
Deployment is gone, the pool stays observed, so the next tick tries again.
"""

from __future__ import annotations

import enum
import logging
from typing import Any, NamedTuple

from controller.actuators.base import Desire, Fence, Wanted
from controller.actuators.kubernetes.api import ApiFailure, KubeApi
from controller.actuators.kubernetes.budget import DISCOVERY, Priority, Turn, scale_priority
from controller.actuators.kubernetes.deletion_cost import IdleFirst
from controller.actuators.kubernetes.discovery import RBAC_HINT, Discovery, Refusal
from controller.actuators.kubernetes.keda import KedaPause
from controller.actuators.kubernetes.objects import meta, scale_patch, scaled, spec
from controller.actuators.kubernetes.reasons import ReasonTeller, Untold
from controller.core.config import DeploymentRef
from controller.core.model import PoolUnavailable, ScaleConflict, ScaleDecision

log = logging.getLogger("agentdash.kube")


class Change(NamedTuple):
    """One change to make of a pool: to `replicas`, for `decision` (None: no reason given)."""

    replicas: int
    decision: ScaleDecision | None
    now: float

    @staticmethod
    def of(wanted: Wanted) -> Change:
        return Change(wanted.decision.desired, wanted.decision, wanted.now)


class Sent(NamedTuple):
    """A scale PATCH that went out: what it asked, from what, and fenced how."""

    change: Change
    previous: int
    deployment: dict[str, Any]
    """The Deployment as read when it was sent (its resourceVersion fenced the PATCH)."""
    fence: Fence | None


class Patched(NamedTuple):
    """A scale PATCH that landed: what was sent, and the answer (or the read-back)."""

    sent: Sent
    answer: Any
    learned: str = ""
    """How it was learned to have landed, if not by its answer (which was lost)."""


class Outcome(enum.Enum):
    LANDED = "landed"
    NOT_APPLIED = "not applied"
    OVERWRITTEN = "changed by another writer"


class _Landed(Exception):
    """An earlier try of this PATCH was applied, though its answer was an error."""


class NothingToSend(Exception):
    """By its turn, the change was no longer wanted, or the Deployment already had it."""


def replicas_of(deployment: dict[str, Any]) -> int:
    return int(spec(deployment).get("replicas", 1))  # the API's default when unset


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
        self.in_doubt: dict[str, Sent] = {}
        """Pools whose last PATCH went unanswered and could not be read back yet."""
        self._landed: dict[str, Wanted] = {}
        """Changes learned to have landed after their call failed: for the loop to count."""

    def take_landed(self, pool: str) -> Wanted | None:
        return self._landed.pop(pool, None)

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
        if pool in self.in_doubt:
            await self._settle_doubt(pool)  # its last scale's outcome, before another
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
                *(ref.namespace, ref.name, previous, change.replicas, _why(change.decision)),
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
        log.info(
            "scaled Deployment %s/%s from %d to %d%s%s",
            *(ref.namespace, ref.name, sent.previous, sent.change.replicas),
            _why(sent.change.decision),
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
            answer = await self._after_lost_answer(pool, sent[0], failure)
            return Patched(sent[0], answer, "its answer was lost; read back")
        finally:
            if desire is not None:
                desire.listen(None)
        return Patched(sent[0], answer)

    async def _after_lost_answer(self, pool: str, sent: Sent, failure: ApiFailure) -> Any:
        """A PATCH sent and not answered: read it back. The read-back if it landed; raises
        the pool's failure (or a conflict) if not, or if that cannot be told yet."""
        self.in_doubt[pool] = sent  # until it is known (the read-back may be cut too)
        try:
            outcome, answer = await self._read_back(pool, sent)
        except ApiFailure as again:
            raise PoolUnavailable(
                pool, f"cannot scale: {failure}; whether it landed is not known yet ({again})"
            ) from failure
        del self.in_doubt[pool]
        if outcome is Outcome.LANDED:
            return answer
        if outcome is Outcome.OVERWRITTEN:
            raise ScaleConflict(pool, f"{_where(self._discovery.pools[pool])} {outcome.value}")
        raise PoolUnavailable(pool, f"cannot scale: {failure}; read back: {outcome.value}")

    async def _settle_doubt(self, pool: str) -> None:
        """Read back the PATCH of the pool's last call whose outcome is not known yet."""
        sent = self.in_doubt[pool]
        try:
            outcome, _ = await self._read_back(pool, sent)
        except ApiFailure as again:
            raise PoolUnavailable(
                pool, f"cannot scale: whether its last scale landed is not known yet ({again})"
            ) from again
        self.settle(pool, sent, outcome, "read back")

    def settle_doubts(self) -> None:
        """What the watch says of the PATCHes whose outcome is not known yet: a Deployment
        at another version than the one a PATCH was fenced by has been written since."""
        for pool, sent in list(self.in_doubt.items()):
            ref = self._discovery.pools[pool]
            deployment = self._discovery.of(pool).deployments.objects.get(ref.name)
            if deployment is None:
                del self.in_doubt[pool]
                continue
            version = meta(deployment).get("resourceVersion")
            fenced = meta(sent.deployment).get("resourceVersion")
            if fenced is not None and version == fenced:
                continue  # nothing written since, as far as the watch knows
            self.settle(pool, sent, _outcome(sent, replicas_of(deployment), version), "the watch")

    def settle(self, pool: str, sent: Sent, outcome: Outcome, how: str) -> None:
        """A doubt resolved after its call: a change that landed is logged, said and kept
        for the loop to count, once."""
        self.in_doubt.pop(pool, None)
        if outcome is not Outcome.LANDED:
            log.info("%s: its last scale, whose answer was lost, %s (%s)", pool, outcome.value, how)
            return
        ref = self._discovery.pools[pool]
        change = sent.change
        log.info(
            "scaled Deployment %s/%s from %d to %d%s (its answer was lost; %s shows it landed)",
            *(ref.namespace, ref.name, sent.previous, change.replicas),
            *(_why(change.decision), how),
        )
        if change.decision is not None:
            self._landed[pool] = Wanted(change.decision, change.now)
        untold = Untold(
            ref,
            sent.deployment,
            change.replicas,
            sent.previous,
            change.decision,
            change.now,
            self._api.deadline(),
        )
        self._reasons.queue(pool, untold, sent.fence)

    async def _read_back(self, pool: str, sent: Sent) -> tuple[Outcome, Any]:
        """GET the scale subresource: what became of `sent` (the cache follows it)."""
        ref = self._discovery.pools[pool]
        answer = await self._api.call(
            f"read deployments/scale {ref.namespace}/{ref.name}",
            self._api.apps.read_namespaced_deployment_scale_without_preload_content,
            ref.name,
            ref.namespace,
            priority=DISCOVERY,  # the pool can be decided again only once it is known
            deadline=self._api.deadline(),
        )
        replicas = replicas_of(answer)
        deployments = self._discovery.of(pool).deployments
        if ref.name in deployments.objects:
            deployments.objects[ref.name] = scaled(deployments.objects[ref.name], replicas, answer)
        return _outcome(sent, replicas, meta(answer).get("resourceVersion")), answer

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
            return ScaleConflict(pool, f"{_where(ref)} changed since it was read (409)")
        if failure.not_found:
            # Gone: forget it until the watch sees it again.
            self._discovery.of(pool).deployments.objects.pop(ref.name, None)
            reason = f"{_where(ref)} not found"
        elif failure.forbidden:
            reason = f"{failure} ({RBAC_HINT} in namespace {ref.namespace})"
            self._discovery.refused[pool] = Refusal(reason, now + self._recheck_s)
        else:
            # Passing, perhaps (5xx, no answer by the deadline): still observed, the pool is
            # tried again next tick. Told by the loop, which knows when it stops failing.
            return PoolUnavailable(pool, f"cannot {doing}: {failure}")
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
            f"{_where(ref)} has {current} replicas now, not the {change.decision.current} "
            "decided on",
        )


def _outcome(sent: Sent, replicas: int, version: object) -> Outcome:
    fenced = meta(sent.deployment).get("resourceVersion")
    if fenced is not None and str(version) == str(fenced):
        return Outcome.NOT_APPLIED  # nothing written since it was read
    if replicas == sent.change.replicas:
        return Outcome.LANDED
    return Outcome.NOT_APPLIED if fenced is None else Outcome.OVERWRITTEN


def _where(ref: DeploymentRef) -> str:
    return f"Deployment {ref.namespace}/{ref.name}"


def _why(decision: ScaleDecision | None) -> str:
    if decision is None or not decision.reasons:
        return ""
    return f" ({decision.main_reason.rule}: {decision.main_reason.detail})"
