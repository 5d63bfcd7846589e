"""Idle pods first: before a scale-down, mark the pods known idle with a low
`controller.kubernetes.io/pod-deletion-cost`, so the ReplicaSet deletes them rather than pods
in the middle of a task (which would start over elsewhere). Which pods: controller.core.busy.

Best effort, and never in the scale's way: the marks get at most half of what is left of the
scale's deadline, go through the same rate limiter, and any failure is logged and the scale
goes on (the ReplicaSet then picks by its own ranking). A mark left on a pod that has since
taken work is removed before the next scale-down of its pool, so it never sends a busy pod
first. Only marks agentdash made (the value IDLE_COST) are ever removed: a cost a person set
is theirs.
"""

from __future__ import annotations

import asyncio
import logging

from controller.actuators.kubernetes.api import ApiFailure, KubeApi
from controller.actuators.kubernetes.budget import READ, Priority
from controller.actuators.kubernetes.informer import Informer
from controller.actuators.kubernetes.objects import (
    DELETION_COST,
    IDLE_COST,
    Obj,
    PodIndex,
    annotated,
    annotations_of,
    name_of,
    pod_view,
)
from controller.core.busy import BusyPods, MarkPlan, plan_marks

log = logging.getLogger("agentdash.kube")


class IdleFirst:
    def __init__(self, api: KubeApi, busy: BusyPods, recheck_s: float) -> None:
        self._api = api
        self._busy = busy
        self._recheck_s = recheck_s
        self._refused: dict[str, float] = {}
        """Namespaces where patching pods was refused (403), and until when not to ask."""

    async def mark(
        self,
        pool: str,
        pods: Informer,
        deployment: Obj,
        victims: int,
        now: float,
        deadline: float,
        priority: Priority = READ,
    ) -> None:
        """Mark up to `victims` idle pods of the Deployment (and unmark stale marks). Never
        raises; ends by half of what is left before `deadline` (the event loop's clock).
        `priority`: the scale-down's own place in the budget's queue."""
        namespace = pods.namespace
        if not pods.usable or now < self._refused.get(namespace, now):
            return
        plan = self._plan(pool, pods, deployment, victims, now)
        changes = [(name, None) for name in plan.unmark] + [(name, IDLE_COST) for name in plan.mark]
        if not changes:
            return
        clock = asyncio.get_running_loop().time
        by = clock() + (deadline - clock()) / 2  # the other half is the scale's
        for name, cost in changes:
            if not await self._annotate(pool, pods, name, cost, now, by, priority):
                return
        log.info(
            "%s: %d idle pod(s) marked to go first (%s), %d stale mark(s) removed",
            pool,
            len(plan.mark),
            ", ".join(plan.mark) or "none",
            len(plan.unmark),
        )

    def _plan(
        self, pool: str, pods: Informer, deployment: Obj, victims: int, now: float
    ) -> MarkPlan:
        """The marks to add and remove among the Deployment's pods, as the informer has them."""
        chosen = PodIndex(pods.objects.values()).objects_of(deployment)
        views = [pod_view(pod, pool, now) for pod in chosen]
        marked = {name_of(p) for p in chosen if annotations_of(p).get(DELETION_COST) == IDLE_COST}
        idle = self._busy.idle(pool, [view.name for view in views], now)
        return plan_marks(views, marked, idle, victims)

    async def _annotate(
        self,
        pool: str,
        pods: Informer,
        name: str,
        cost: str | None,
        now: float,
        by: float,
        priority: Priority,
    ) -> bool:
        """Set (or, with `cost` None, remove) one pod's deletion cost. False when marking must
        stop for this scale-down: the failure is logged, and a refusal remembered."""
        namespace = pods.namespace
        try:
            await self._api.call(
                f"{'unmark' if cost is None else 'mark'} pod {namespace}/{name}",
                self._api.core.patch_namespaced_pod_without_preload_content,
                name,
                namespace,
                {"metadata": {"annotations": {DELETION_COST: cost}}},  # null removes it
                _content_type="application/merge-patch+json",
                deadline=by,
                priority=priority,
            )
        except ApiFailure as failure:
            if failure.not_found:  # gone meanwhile: one victim fewer to choose
                pods.objects.pop(name, None)
                return True
            if failure.forbidden:
                self._refused[namespace] = now + self._recheck_s
            log.warning(
                "%s: scaling down without marking idle pods first: %s%s",
                pool,
                failure,
                " (`agentdash rbac` grants `patch pods`)" if failure.forbidden else "",
            )
            return False
        # The watch will say so too; until then the next plan must see this one.
        if name in pods.objects:
            pods.objects[name] = annotated(pods.objects[name], {DELETION_COST: cost})
        return True
