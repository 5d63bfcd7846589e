"""Scale PATCHes whose answers were lost: what became of each, before the pool is decided
again.

A PATCH sent and not answered (cut by its deadline, its connection broken) may have landed.
It is read back at once (a GET of the scale subresource, a discovery read that goes ahead of
the scale calls): a change that landed is a scale like any other (logged once, with its
reason said, and counted by the loop); one that did not is the pool's failure. If even the
read-back fails, the doubt is kept: the watch settles it (the Deployment written since, at
the replicas sent: it landed), or the pool's next scale reads it back first.
"""

from __future__ import annotations

import enum
import logging
from typing import Any, NamedTuple

from controller.actuators.base import Fence, Wanted
from controller.actuators.kubernetes.api import ApiFailure, KubeApi
from controller.actuators.kubernetes.budget import DISCOVERY
from controller.actuators.kubernetes.discovery import Discovery
from controller.actuators.kubernetes.objects import meta, scaled, spec
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


class Outcome(enum.Enum):
    LANDED = "landed"
    NOT_APPLIED = "not applied"
    OVERWRITTEN = "changed by another writer"


def replicas_of(deployment: dict[str, Any]) -> int:
    return int(spec(deployment).get("replicas", 1))  # the API's default when unset


class ReadBack:
    """The pools whose last scale PATCH went unanswered, until what became of it is known."""

    def __init__(self, api: KubeApi, discovery: Discovery, reasons: ReasonTeller) -> None:
        self._api = api
        self._discovery = discovery
        self._reasons = reasons
        self.in_doubt: dict[str, Sent] = {}
        """Pools whose last PATCH went unanswered and could not be read back yet."""
        self._landed: dict[str, Wanted] = {}
        """Changes learned to have landed after their call failed: for the loop to count."""

    def take_landed(self, pool: str) -> Wanted | None:
        return self._landed.pop(pool, None)

    async def after_lost_answer(self, pool: str, sent: Sent, failure: ApiFailure) -> Any:
        """A PATCH sent and not answered: read it back. The read-back if it landed; raises
        the pool's failure (or a conflict) if not, or if that cannot be told yet."""
        self.in_doubt[pool] = sent  # until it is known (the read-back may be cut too)
        try:
            outcome, answer = await self._read(pool, sent)
        except ApiFailure as again:
            raise PoolUnavailable(
                pool,
                f"cannot scale: {failure}; whether it landed is not known yet ({again})",
                unanswered=again.cut_off,
            ) from failure
        del self.in_doubt[pool]
        if outcome is Outcome.LANDED:
            return answer
        if outcome is Outcome.OVERWRITTEN:
            raise ScaleConflict(pool, f"{where(self._discovery.pools[pool])} {outcome.value}")
        raise PoolUnavailable(pool, f"cannot scale: {failure}; read back: {outcome.value}")

    async def settle_first(self, pool: str) -> None:
        """Before the pool's next scale: read back its last PATCH whose outcome is not known
        yet, if any."""
        sent = self.in_doubt.get(pool)
        if sent is None:
            return
        try:
            outcome, _ = await self._read(pool, sent)
        except ApiFailure as again:
            raise PoolUnavailable(
                pool,
                f"cannot scale: whether its last scale landed is not known yet ({again})",
                unanswered=again.cut_off,
            ) from again
        self.settle(pool, sent, outcome, "read back")

    def settle_from_watch(self) -> None:
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
            *(why(change.decision), how),
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

    async def _read(self, pool: str, sent: Sent) -> tuple[Outcome, Any]:
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


def _outcome(sent: Sent, replicas: int, version: object) -> Outcome:
    fenced = meta(sent.deployment).get("resourceVersion")
    if fenced is not None and str(version) == str(fenced):
        return Outcome.NOT_APPLIED  # nothing written since it was read
    if replicas == sent.change.replicas:
        return Outcome.LANDED
    return Outcome.NOT_APPLIED if fenced is None else Outcome.OVERWRITTEN


def where(ref: DeploymentRef) -> str:
    return f"Deployment {ref.namespace}/{ref.name}"


def why(decision: ScaleDecision | None) -> str:
    if decision is None or not decision.reasons:
        return ""
    return f" ({decision.main_reason.rule}: {decision.main_reason.detail})"
