"""Saying why a pool was scaled, on its Deployment: an Event, and with `annotate` the
`agentdash.io/last-decision` annotation, both shown by `kubectl describe deployment`.

Calls for many pools run at once, within one budget, and the scale PATCHes go first: a scale
that lands while other pools' scale calls still wait leaves its annotation and Event to a
queue that is sent only while no scale call waits, one request at a time, the newest per pool
(an older one is superseded), each request only if the caller's fence allows it then (this
process still leads, and by when it must land), else never. Sent in turn, a change's three
requests would allow about 1.7 changes a second at 5 qps; this way the scales alone go at
the full 5. A scale with no other waiting says why at once, within its own call.

Best effort: the replicas have changed whatever happens here, so a failure is logged, never
raised (the loop would think the scale had failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any, NamedTuple

from controller.actuators.base import Fence
from controller.actuators.kubernetes.api import ApiFailure, KubeApi
from controller.actuators.kubernetes.budget import EXPLAIN
from controller.actuators.kubernetes.discovery import Discovery
from controller.actuators.kubernetes.objects import (
    ANNOTATION,
    decision_annotation,
    meta,
    scale_event,
)
from controller.core.config import DeploymentRef
from controller.core.model import ScaleDecision

log = logging.getLogger("agentdash.kube")


class Untold(NamedTuple):
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


class _Unsaid(Exception):
    """A reason given up: it could no longer be said safely."""


class ReasonTeller:
    """The scale calls under way, and the reasons still to say, the newest per pool."""

    def __init__(self, api: KubeApi, discovery: Discovery, *, annotate: bool) -> None:
        self._api = api
        self._discovery = discovery
        self.annotate = annotate
        self._scaling = 0
        """Scale calls that have not yet had their scale PATCH answered."""
        self._no_scales = asyncio.Event()
        self._no_scales.set()
        self._untold: dict[str, Untold] = {}
        """Per pool, the last scale still to be said why of (an older one is superseded)."""
        self._teller: asyncio.Task[None] | None = None
        self.untold = 0
        """Scales whose annotation and Event were given up: superseded, or out of time."""
        self._refusals_said: set[tuple[str, str]] = set()
        """(what, namespace) refused (403) and said so, until a request of it succeeds."""

    @contextlib.contextmanager
    def scaling(self) -> Iterator[None]:
        """While a scale call is under way: the reasons queued wait for it."""
        self._scaling += 1
        self._no_scales.clear()
        try:
            yield
        finally:
            self._scaling -= 1
            if not self._scaling:
                self._no_scales.set()

    async def tell(self, pool: str, untold: Untold, fence: Fence | None) -> None:
        """Say why now if no other scale waits; else queue it behind them."""
        if not self._scaling and not self._untold:
            await self._explain(untold)  # nothing else waits: said now, as part of this call
            return
        # Others wait for their scale: theirs first, this pool's reason behind them.
        self.queue(pool, untold, fence)

    def queue(self, pool: str, untold: Untold, fence: Fence | None) -> None:
        """Say why after the scale calls that wait, if `fence` allows it then."""
        if self._untold.pop(pool, None) is not None:
            self.untold += 1  # superseded: the annotation is this one's now
        self._untold[pool] = untold._replace(fence=fence)
        if self._teller is None or self._teller.done():
            self._teller = asyncio.create_task(self._tell(), name="say why scaled")

    async def close(self) -> None:
        if self._teller is not None:
            self._teller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._teller

    async def _tell(self) -> None:
        """Say why of the scales that landed while others waited, oldest first, each request
        only while no scale call waits: a scale PATCH never queues behind an annotation or
        an Event. One in flight at a time."""
        untold = self._untold
        while untold:
            await self._no_scales.wait()
            if not untold:
                break
            pool = next(iter(untold))
            await self._explain(untold.pop(pool), after_scales=True)

    async def _explain(self, untold: Untold, *, after_scales: bool = False) -> None:
        """Within the scale's call, by its deadline. `after_scales` (after the call): each
        request waits until no scale call does, and goes only if the fence allows it then."""
        ref, deployment, replicas, previous, decision, now, deadline, _ = untold
        try:
            if self.annotate:
                try:
                    deadline = await self._annotate(untold, deadline, after_scales=after_scales)
                except ApiFailure as failure:  # the Event still says why
                    self._failed("annotate the Deployment", ref, failure)
            if after_scales:
                deadline = await self._turn(untold)
            await self._api.call(
                f"create an Event for Deployment {ref.namespace}/{ref.name}",
                self._api.core.create_namespaced_event_without_preload_content,
                ref.namespace,
                scale_event(deployment, ref.namespace, replicas, previous, decision, now),
                retry=False,  # a create that timed out may have happened: no duplicate
                deadline=deadline,
                priority=EXPLAIN,
            )
            self._refusals_said.discard(("say why on the Deployment", ref.namespace))
        except _Unsaid as unsaid:
            self.untold += 1
            log.info("%s: scaled, but not said why: %s", ref.name, unsaid)
        except ApiFailure as failure:
            self._failed("say why on the Deployment", ref, failure)

    def _failed(self, what: str, ref: DeploymentRef, failure: ApiFailure) -> None:
        """A refusal (403) is said once a namespace, until a request of it succeeds: every
        scale there meets it again (a fleet would log it once a pool a tick), and /healthz
        lists it under `refused` meanwhile."""
        said = (what, ref.namespace)
        if failure.forbidden and said in self._refusals_said:
            log.debug("scaled, but could not %s: %s", what, failure)
            return
        if failure.forbidden:
            self._refusals_said.add(said)
        log.warning("scaled, but could not %s: %s", what, failure)

    async def _annotate(self, untold: Untold, deadline: float, *, after_scales: bool) -> float:
        """The one reason agentdash patches the Deployment itself (`patch deployments`): the
        annotation keeps the last decision where `kubectl describe` shows it. Returns the
        deadline it was sent by."""
        ref, _, replicas, previous, decision, now, _, _ = untold
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
            priority=EXPLAIN,
        )
        self._refusals_said.discard(("annotate the Deployment", ref.namespace))
        self._remember(ref, answer)
        return deadline

    def _remember(self, ref: DeploymentRef, answer: dict[str, Any]) -> None:
        """The Deployment as our own write left it, until the watch says so: the next scale
        is fenced at this version, not refused for a change this process made."""
        deployments = self._discovery.namespaces[ref.namespace].deployments
        if ref.name in deployments.objects and meta(answer).get("resourceVersion"):
            deployments.objects[ref.name] = answer

    async def _turn(self, untold: Untold) -> float:
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
