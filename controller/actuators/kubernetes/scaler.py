"""DeploymentScaler: the Actuator for a real cluster.

Each pool is a Deployment. Replicas, readiness and pods come from watches (one per kind and
namespace, see controller.actuators.kubernetes.informer); a change is a patch of the Deployment's
`scale` subresource, never of the Deployment itself, so no other field can be touched by accident.

A pool agentdash must not or cannot scale (its Deployment is gone, the namespace is
forbidden, an HPA or a KEDA ScaledObject already scales it) is left out of `observe()`, with
the reason in `problems`: the policy then has no observation for it and holds it, whatever
the loop does with the reason. `SourceError` is raised only when the cluster cannot be read
at all (no namespace answers, and not because of permissions), which the loop already turns
into stale pools that hold their replicas.

A write that fails is that pool's failure (`PoolUnavailable`), whatever the cause (a 5xx,
no answer by the deadline): the others may be fine. Unless the API refused it (403) or the
Deployment is gone, the pool stays observed, so the next tick tries again, and the loop
tells a failure that lasts as that pool's, the same way on every tick. (A SourceError here
made it the whole cluster's, which the next successful read cleared: health flapped.)

Every call is bounded by `deadline_s` (see controller.actuators.kubernetes.api), so that a leader
can fence its writes by its lease. The scale PATCH is fenced by the Deployment too: it names
the resourceVersion read (objects.scale_patch), so the API server refuses it (409) if anyone
wrote the Deployment since, a late PATCH from a deposed leader included. That refusal, like a
decision on replicas the Deployment no longer has, is a `ScaleConflict`: not retried (it
would be refused again), no failure, and the loop decides the pool again. The versions this
process's own writes answer are kept until the watch catches up, so they never refuse its
next scale.

Calls for many pools run at once, within one rate limit (`qps`, `burst`), and the scale
PATCHes go first: a scale that lands while other pools' scale calls still wait leaves its
annotation and Event to a queue that is sent only while no scale call waits, one request at
a time, the newest per pool (an older one is superseded), each request only if the caller's
fence allows it then (this process still leads, and by when it must land), else never.
Sent in turn, a change's three requests would allow about 1.7 changes a second at 5 qps;
this way the scales alone go at the full 5 (a scale-down first marks its idle pods, within
the same limit: see controller.actuators.kubernetes.deletion_cost). A scale with no other
waiting says why at once, within its own call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from types import TracebackType
from typing import Any, NamedTuple, Self

from kubernetes.aio.client import ApiClient

from controller.actuators.base import Fence
from controller.actuators.kubernetes.api import ApiFailure, KubeApi, RetryPolicy, connect_client
from controller.actuators.kubernetes.deletion_cost import IdleFirst
from controller.actuators.kubernetes.informer import Informer, Timing, WatchedNamespace
from controller.actuators.kubernetes.keda import PAUSED, KedaPause, left_paused
from controller.actuators.kubernetes.objects import (
    ANNOTATION,
    PodIndex,
    decision_annotation,
    meta,
    other_scaler,
    scale_event,
    scale_patch,
    scaled,
    spec,
    status,
)
from controller.core.busy import BusyPods
from controller.core.config import Config, DeploymentRef
from controller.core.model import (
    PoolState,
    PoolUnavailable,
    ScaleConflict,
    ScaleDecision,
    SourceError,
)

log = logging.getLogger("agentdash.kube")

RBAC_HINT = "`agentdash rbac --config FILE | kubectl apply -f -` grants what agentdash needs"


class DeploymentScaler:
    """Observe and scale each pool's Deployment.

    `take_over`: pools to scale even though an HPA or a ScaledObject targets them too. A KEDA
    ScaledObject is paused before the first scale and given back by `release()` (see
    controller.actuators.kubernetes.keda); an HPA has no such switch: remove it, or the two will
    fight. `dry_run`: decide and log, never change the cluster; observing works as usual.
    `qps`/`burst`: the API rate limit, shared by every request this scaler makes.
    `deadline_s`: the longest `scale...()` may take (every request, try and backoff), and the
    longest `observe()` waits for the cluster's first answers.
    `annotate`: leave the last decision in an annotation on the Deployment (which needs
    `patch deployments`, a right to change all of it); without it, the reason is only in the
    scale Event, and the scaler writes nothing of the Deployment but its scale subresource.
    `busy`: which pods are busy (the workers' reports, controller.core.busy). Given, a scale-down
    first marks idle pods so the ReplicaSet deletes them first (`patch pods`, see
    controller.actuators.kubernetes.deletion_cost); without it, the ReplicaSet picks by its own
    ranking.
    """

    def __init__(
        self,
        config: Config,
        client: ApiClient,
        *,
        take_over: Collection[str] = (),
        dry_run: bool = False,
        qps: float = 5.0,
        burst: int = 10,
        request_timeout_s: float = 10.0,
        deadline_s: float = 3.0,
        sync_timeout_s: float = 10.0,
        annotate: bool = False,
        busy: BusyPods | None = None,
        retry: RetryPolicy | None = None,
        timing: Timing | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        owns_client: bool = False,
    ) -> None:
        unknown = set(take_over) - set(config.pools)
        if unknown:
            raise ValueError(f"take_over names pools that are not configured: {sorted(unknown)}")
        self.dry_run = dry_run
        self.annotate = annotate
        self._pools: dict[str, DeploymentRef] = {n: p.deployment for n, p in config.pools.items()}
        self._take_over = frozenset(take_over)
        self._api = KubeApi(
            client,
            qps=qps,
            burst=burst,
            timeout_s=request_timeout_s,
            deadline_s=deadline_s,
            retry=retry,
            sleep=sleep,
            jitter=jitter,
        )
        self._owns_client = owns_client
        self._timing = timing or Timing()
        self._namespaces = {
            ref.namespace: WatchedNamespace(self._api, ref.namespace, self._timing)
            for ref in self._pools.values()
        }
        self._sync_timeout_s = sync_timeout_s
        self._clock = clock
        self._started: asyncio.Task[None] | None = None
        self._problems: dict[str, str] = {}
        self._refused: dict[str, tuple[str, float]] = {}
        """Pools whose scale patch was refused (403), and until when not to try again."""
        self._warned_take_over: set[str] = set()
        self._keda = KedaPause(self._api)
        self._idle_first = (
            None if busy is None else IdleFirst(self._api, busy, self._timing.recheck_s)
        )
        self._scaling = 0
        """Scale calls that have not yet had their scale PATCH answered."""
        self._no_scales = asyncio.Event()
        self._no_scales.set()
        self._untold: dict[str, _Untold] = {}
        """Per pool, the last scale still to be said why of (an older one is superseded)."""
        self._teller: asyncio.Task[None] | None = None
        self.untold = 0
        """Scales whose annotation and Event were given up: superseded, or out of time."""

    @classmethod
    async def connect(
        cls,
        config: Config,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        take_over: Collection[str] = (),
        dry_run: bool = False,
        qps: float = 5.0,
        burst: int = 10,
        deadline_s: float = 3.0,
        annotate: bool = False,
        busy: BusyPods | None = None,
    ) -> Self:
        """A scaler with its own client: in-cluster credentials, or a kubeconfig and context.
        Raises KubeConfigError (a one-line, user-facing message) if they cannot be loaded."""
        client = await connect_client(kubeconfig, context)
        return cls(
            config,
            client,
            take_over=take_over,
            dry_run=dry_run,
            qps=qps,
            burst=burst,
            deadline_s=deadline_s,
            annotate=annotate,
            busy=busy,
            owns_client=True,
        )

    @property
    def problems(self) -> dict[str, str]:
        """Pool -> why agentdash does not scale it now, as of the last observe() or scale()."""
        return dict(self._problems)

    async def observe(self) -> Mapping[str, PoolState]:
        await self._start(self._api.deadline())
        now = self._clock()
        states: dict[str, PoolState] = {}
        problems: dict[str, str] = {}
        pods: dict[str, PodIndex] = {}
        outage = self._outage()
        for pool, ref in self._pools.items():
            problem = self._problem(pool, ref, now)
            if problem is not None:
                problems[pool] = problem
                continue
            if outage is None:
                states[pool] = self._state(pool, ref, pods, now)
        # Set even in an outage, so that a forbidden namespace's pools still say why.
        self._set_problems(problems)
        if outage is not None:
            raise SourceError(outage)
        return states

    async def scale(self, pool: str, replicas: int) -> None:
        """The Actuator protocol: scale, with an annotation that names no reason."""
        await self._scale(pool, replicas, None, self._clock())

    async def scale_with_reason(
        self,
        pool: str,
        replicas: int,
        decision: ScaleDecision,
        now: float,
        fence: Fence | None = None,
    ) -> None:
        """Scale, and say why on the Deployment: the `agentdash.io/last-decision` annotation
        and an Event, both shown by `kubectl describe deployment`. If the reason is said after
        this call returned (see the module), each request is bounded by `fence`, or not sent."""
        await self._scale(pool, replicas, decision, now, fence)

    async def release(self) -> None:
        """Give back to KEDA every ScaledObject this scaler paused (take_over), by one
        deadline; a failure is logged, never raised. Call it while this process still leads,
        before the lease goes: a new leader then pauses them again before it scales. `close()`
        calls it too."""
        await self._keda.release(self._api.deadline())

    async def close(self) -> None:
        await self.release()
        if self._teller is not None:
            self._teller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._teller
        if self._started is not None:
            self._started.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._started
        for namespace in self._namespaces.values():
            for informer in namespace.all:
                await informer.stop()
        if self._owns_client:
            await self._api.client.close()  # type: ignore[no-untyped-call]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- observing -------------------------------------------------------------------------

    async def _start(self, deadline: float) -> None:
        """Start every watch once, and wait (bounded, and by `deadline`) for their first
        answers. Whatever has not answered by then is reported as such."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._start_watches())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await asyncio.shield(self._started)

    async def _start_watches(self) -> None:
        informers = [i for ns in self._namespaces.values() for i in ns.all]
        for informer in informers:
            informer.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._sync_timeout_s):
                for informer in informers:  # in turn: the wait is for the slowest anyway
                    await informer.settled.wait()

    def _outage(self) -> str | None:
        """Why the cluster cannot be read at all, or None: no namespace's Deployments can be
        read, and the reason is the API (down, too slow, or refusing our credentials)."""
        # A 403 is an answer: the API works, that namespace is just not ours. Only the others
        # tell whether it is down (counting a forbidden one as working hid an outage).
        answering = [
            ns.deployments
            for ns in self._namespaces.values()
            if not (ns.deployments.problem and ns.deployments.problem.forbidden)
        ]
        if not answering or any(i.usable for i in answering):
            return None
        first = next((i.problem for i in answering if i.problem is not None), None)
        if first is not None:
            return f"cannot read the cluster: {first}"
        return "cannot read the cluster: no answer yet"

    def _problem(self, pool: str, ref: DeploymentRef, now: float) -> str | None:
        """Why this pool must be left alone now, or None."""
        namespace = self._namespaces[ref.namespace]
        where = f"Deployment {ref.namespace}/{ref.name}"
        if not namespace.deployments.usable:
            return _unreadable(namespace.deployments, ref.namespace)
        if ref.name not in namespace.deployments.objects:
            return f"{where} not found"
        refused = self._refused.get(pool)
        if refused is not None and now < refused[1]:
            return refused[0]
        # take_over scales past an HPA unread, but must read the ScaledObjects it pauses.
        for informer in (namespace.scaled_objects, namespace.hpas):
            if not informer.usable and (
                pool not in self._take_over or informer is not namespace.hpas
            ):
                reason = _unreadable(informer, ref.namespace)
                return f"cannot tell whether another autoscaler scales {where}: {reason}"
        owner = other_scaler(
            ref.namespace,
            ref.name,
            namespace.hpas.objects.values(),
            namespace.scaled_objects.objects.values(),
        )
        if owner is None:
            return None
        if pool in self._take_over:
            if pool not in self._warned_take_over:
                self._warned_take_over.add(pool)
                log.warning(
                    "%s: taking over %s from %s (take_over is set); %s",
                    pool,
                    where,
                    owner,
                    "agentdash pauses it before it scales"
                    if owner.startswith("KEDA")
                    else "remove the other autoscaler or the two will fight",
                )
            return None
        if left_paused(ref.name, namespace.scaled_objects.objects.values()):
            # take_over was dropped while agentdash held KEDA paused: nobody scales it now.
            return (
                f"{where}: {owner} is still paused by agentdash (take_over is no longer set); "
                f"remove its annotation {PAUSED} to give it back to KEDA, or set "
                f"pools.{pool}.take_over: true again"
            )
        return (
            f"{where} is scaled by {owner}; agentdash leaves it alone "
            f"(set pools.{pool}.take_over: true to scale it anyway)"
        )

    def _state(
        self, pool: str, ref: DeploymentRef, pods: dict[str, PodIndex], now: float
    ) -> PoolState:
        namespace = self._namespaces[ref.namespace]
        deployment = namespace.deployments.objects[ref.name]
        replicas = int(spec(deployment).get("replicas", 1))  # the API's default when unset
        if not namespace.pods.usable:
            # Without the pods, the Deployment's own count: right, if a little behind.
            return PoolState(replicas, int(status(deployment).get("readyReplicas") or 0))
        if ref.namespace not in pods:  # indexed once per observation, for all its pools
            pods[ref.namespace] = PodIndex(namespace.pods.objects.values())
        chosen = pods[ref.namespace].pods_of(deployment, pool, now)
        return PoolState(replicas, sum(1 for p in chosen if p.ready), chosen)

    def _set_problems(self, problems: dict[str, str]) -> None:
        # At debug: the loop tells each pool's reason once, with its health
        # (controller.runtime.health); said here too, every reason came twice.
        for pool, problem in problems.items():
            if self._problems.get(pool) != problem:
                log.debug("%s: not scaled: %s", pool, problem)
        for pool in self._problems.keys() - problems.keys():
            log.debug("%s: can be scaled again", pool)
        self._problems = problems

    # --- scaling ---------------------------------------------------------------------------

    async def _scale(
        self,
        pool: str,
        replicas: int,
        decision: ScaleDecision | None,
        now: float,
        fence: Fence | None = None,
    ) -> None:
        deadline = self._api.deadline()  # for all of it: marks, scale, annotation, Event
        self._scaling += 1
        self._no_scales.clear()
        try:
            untold = await self._scale_first(pool, replicas, decision, now, deadline)
        finally:
            self._scaling -= 1
            if not self._scaling:
                self._no_scales.set()
        if untold is None:
            return
        if not self._scaling and not self._untold:
            await self._explain(untold)  # nothing else waits: said now, as part of this call
            return
        untold = untold._replace(fence=fence)  # said after this call: fenced all the same
        # Others wait for their scale: theirs first, this pool's reason behind them.
        if self._untold.pop(pool, None) is not None:
            self.untold += 1  # superseded: the annotation is this one's now
        self._untold[pool] = untold
        if self._teller is None or self._teller.done():
            self._teller = asyncio.create_task(self._tell(), name="say why scaled")

    async def _scale_first(
        self, pool: str, replicas: int, decision: ScaleDecision | None, now: float, deadline: float
    ) -> _Untold | None:
        """The scale itself (and what must precede it); what is left to say, unless dry-run."""
        ref = self._pools[pool]
        await self._start(deadline)
        problem = self._problem(pool, ref, now)
        if problem is not None:
            self._problems[pool] = problem
            raise PoolUnavailable(pool, problem)
        namespace = self._namespaces[ref.namespace]
        if pool in self._take_over:
            try:  # before the scale: KEDA's HPA must not undo it
                await self._keda.pause(
                    pool, ref.name, namespace.scaled_objects, deadline, dry_run=self.dry_run
                )
            except ApiFailure as failure:
                raise self._refusal(pool, ref, failure, now, "pause KEDA") from failure
        deployments = namespace.deployments
        deployment = deployments.objects[ref.name]
        previous = int(spec(deployment).get("replicas", 1))
        why = ""
        if decision is not None and decision.reasons:
            why = f" ({decision.main_reason.rule}: {decision.main_reason.detail})"
        if self.dry_run:
            log.info(
                "dry-run: would scale Deployment %s/%s from %d to %d%s",
                ref.namespace,
                ref.name,
                previous,
                replicas,
                why,
            )
            return None
        if decision is not None and decision.current != previous:
            raise ScaleConflict(
                pool,
                f"Deployment {ref.namespace}/{ref.name} has {previous} replicas now, "
                f"not the {decision.current} decided on",
            )
        if self._idle_first is not None and replicas < previous:
            await self._idle_first.mark(
                pool, namespace.pods, deployment, previous - replicas, now, deadline
            )
        try:
            answer = await self._api.call(
                f"patch deployments/scale {ref.namespace}/{ref.name}",
                self._api.apps.patch_namespaced_deployment_scale_without_preload_content,
                ref.name,
                ref.namespace,
                scale_patch(replicas, deployment),
                deadline=deadline,
            )
        except ApiFailure as failure:
            raise self._refusal(pool, ref, failure, now) from failure
        log.info(
            "scaled Deployment %s/%s from %d to %d%s",
            ref.namespace,
            ref.name,
            previous,
            replicas,
            why,
        )
        # The watch will say so too; until it does, the next observation must not undo this.
        deployments.objects[ref.name] = scaled(deployment, replicas, answer)
        return _Untold(ref, deployment, replicas, previous, decision, now, deadline)

    async def _tell(self) -> None:
        """Say why of the scales that landed while others waited, oldest first, each request
        only while no scale call waits: a scale PATCH never queues behind an annotation or
        an Event (they share the rate limit). One in flight at a time."""
        untold = self._untold
        while untold:
            await self._no_scales.wait()
            if not untold:
                break
            pool = next(iter(untold))
            await self._explain(untold.pop(pool), after_scales=True)

    def _refusal(
        self, pool: str, ref: DeploymentRef, failure: ApiFailure, now: float, doing: str = "scale"
    ) -> PoolUnavailable:
        if failure.conflict:
            # Fenced by the version read (objects.scale_patch): someone wrote it since.
            return ScaleConflict(
                pool, f"Deployment {ref.namespace}/{ref.name} changed since it was read (409)"
            )
        if failure.not_found:
            # Gone: forget it until the watch sees it again.
            self._namespaces[ref.namespace].deployments.objects.pop(ref.name, None)
            reason = f"Deployment {ref.namespace}/{ref.name} not found"
        elif failure.forbidden:
            reason = f"{failure} ({RBAC_HINT} in namespace {ref.namespace})"
            self._refused[pool] = (reason, now + self._timing.recheck_s)
        else:
            # Passing, perhaps (5xx, no answer by the deadline): still observed, the pool is
            # tried again next tick. Told by the loop, which knows when it stops failing.
            return PoolUnavailable(pool, f"cannot {doing}: {failure}")
        self._problems[pool] = reason
        log.debug("%s: not scaled: %s", pool, reason)  # told by the loop, as above
        return PoolUnavailable(pool, reason)

    async def _explain(self, untold: _Untold, *, after_scales: bool = False) -> None:
        """Best effort: the replicas have changed whatever happens here, so a failure is
        logged, never raised (the loop would think the scale had failed). Within the scale's
        call, by its deadline. `after_scales` (after the call): each request waits until no
        scale call does, and goes only if the fence allows it then."""
        ref, deployment, replicas, previous, decision, now, deadline, _ = untold
        try:
            if self.annotate:
                # The one reason agentdash patches the Deployment itself (`patch deployments`):
                # the annotation keeps the last decision where `kubectl describe` shows it.
                annotation = decision_annotation(replicas, previous, decision, now)
                if after_scales:
                    deadline = await self._turn(untold)
                answer = await self._api.call(
                    f"annotate Deployment {ref.namespace}/{ref.name}",
                    self._api.apps.patch_namespaced_deployment_without_preload_content,
                    ref.name,
                    ref.namespace,
                    {"metadata": {"annotations": {ANNOTATION: annotation}}},
                    _content_type="application/merge-patch+json",
                    deadline=deadline,
                )
                self._remember(ref, answer)
            if after_scales:
                deadline = await self._turn(untold)
            await self._api.call(
                f"create an Event for Deployment {ref.namespace}/{ref.name}",
                self._api.core.create_namespaced_event_without_preload_content,
                ref.namespace,
                scale_event(deployment, ref.namespace, replicas, previous, decision, now),
                retry=False,  # a create that timed out may have happened: no duplicate
                deadline=deadline,
            )
        except _Unsaid as unsaid:
            self.untold += 1
            log.info("%s: scaled, but not said why: %s", ref.name, unsaid)
        except ApiFailure as failure:
            log.warning("scaled, but could not say why on the Deployment: %s", failure)

    def _remember(self, ref: DeploymentRef, answer: dict[str, Any]) -> None:
        """The Deployment as our own write left it, until the watch says so: the next scale
        is fenced at this version, not refused for a change this process made."""
        deployments = self._namespaces[ref.namespace].deployments
        if ref.name in deployments.objects and meta(answer).get("resourceVersion"):
            deployments.objects[ref.name] = answer

    async def _turn(self, untold: _Untold) -> float:
        """Wait until no scale call waits (they go first); then the next request's deadline."""
        if untold.fence is None:  # no lease to ask: the scale's own deadline
            try:
                async with asyncio.timeout_at(untold.deadline):
                    await self._no_scales.wait()
            except TimeoutError:
                raise _Unsaid("no time was left by the deadline") from None
            return untold.deadline
        await self._no_scales.wait()
        fence = untold.fence()
        if fence is None:
            raise _Unsaid("this process no longer leads")
        return min(fence, self._api.deadline())


class _Unsaid(Exception):
    """A reason given up: it could no longer be said safely."""


class _Untold(NamedTuple):
    """A scale that landed, and what is needed to say why: by `deadline` at the latest."""

    ref: DeploymentRef
    deployment: dict[str, Any]
    replicas: int
    previous: int
    decision: ScaleDecision | None
    now: float
    deadline: float
    """By when, said within the scale's call (or after it, with no fence)."""
    fence: Fence | None = None
    """Asked before each request said after the call (the lease may be gone by then)."""


def _unreadable(informer: Informer, namespace: str) -> str:
    if informer.problem is None:
        return f"{informer.what}: no answer yet"
    if informer.problem.forbidden:
        return f"{informer.problem} ({RBAC_HINT} in namespace {namespace})"
    return str(informer.problem)
