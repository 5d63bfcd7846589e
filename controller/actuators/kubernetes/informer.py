"""One kind of object in one namespace, listed once and then kept current by a watch.

The loop observes the cluster on every tick and on every wake-up of a pool at zero; reading
these caches makes that free in steady state, so a wake-up never waits behind API requests
and the rate limiter is left for the requests that change something.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from controller.actuators.kubernetes.api import ApiFailure, KubeApi
from controller.actuators.kubernetes.budget import DISCOVERY
from controller.actuators.kubernetes.objects import meta, name_of

log = logging.getLogger("agentdash.kube")


@dataclass(frozen=True, slots=True)
class Kind:
    plural: str
    """For messages: `deployments`, `pods`, ..."""
    request: Callable[..., Awaitable[Any]]
    """The client's list method (without preload), called with `namespace=` and list or
    watch parameters."""
    optional: bool = False
    """A 404 on the list means the resource is not installed (KEDA's CRD): none exist."""
    version: str = ""
    """The API version asked (`autoscaling/v2`), for messages."""
    older: Kind | None = None
    """The same kind through an older API version, asked where the list answers 404: this
    cluster does not serve `version` (Kubernetes 1.20 serves autoscaling/v2beta2, not v2)."""
    absent: str = ""
    """Said once where an optional kind is not served; nothing is said if empty (a cluster
    without KEDA is the usual case)."""
    holds_pools: bool = False
    """Unreadable, it holds every pool of the namespace, and the loop tells why pool by pool
    (controller.runtime.health): not told here as well, at the default level."""
    keeps_last: bool = False
    """Once read, a later list that fails keeps the last good answer, with one warning: who
    else scales a Deployment (HPAs, ScaledObjects) changes rarely, and holding every pool of
    the namespace whenever one re-read is slow would stall the fleet for nothing."""


@dataclass(frozen=True, slots=True)
class Timing:
    watch_s: float = 300.0
    """How long the server keeps one watch open before it is renewed."""
    retry_min_s: float = 1.0
    retry_max_s: float = 8.0
    """The longest wait between two lists while they fail: how long after the API server is
    back (restarted, reachable again) its pools may still wait to be read and scaled. (At 30 s,
    a pool was scaled 17 to 24 s after a real kube-apiserver was ready again from a 45 s
    outage.) The client's budget bounds the rate of the lists anyway."""
    recheck_s: float = 60.0
    """After a 403: how soon to ask again, in case the permission has been granted. Not after
    the first 403 that follows no answer at all: an API server just restarted refuses for a
    moment while its authorizer loads the RBAC rules, and a pool waited a minute for it."""
    absent_recheck_s: float = 600.0
    """After an optional resource answered 404 (KEDA's CRD is not installed): how soon to ask
    again whether it has been since. Meanwhile none exist, as last answered."""


class Informer:
    def __init__(self, api: KubeApi, kind: Kind, namespace: str, timing: Timing) -> None:
        self.kind = kind
        """The version asked now: `newest`, or an older one this cluster serves instead."""
        self.newest = kind
        self.namespace = namespace
        self.objects: dict[str, dict[str, Any]] = {}
        self.listed = False
        """A full list has been read: the cache is the namespace's truth, not a partial view."""
        self.problem: ApiFailure | None = None
        """Why the cache cannot be trusted now."""
        self.settled = asyncio.Event()
        """Set once the first list has succeeded or failed."""
        self._api = api
        self._timing = timing
        self._task: asyncio.Task[None] | None = None
        self._retry = timing.retry_min_s
        """How long to wait after the next failure: doubled after each, reset by a watch."""
        self._watch_trouble: str | None = None
        """Why watches fail while lists work, as last logged."""
        self._said: set[str] = set()
        """The fallbacks already said (once each, not at every recheck)."""
        self.absent = False
        """An optional kind this cluster does not serve, as last asked."""
        self._kept: str | None = None
        """Why the last re-read failed while the last good answer is kept, as logged."""
        self.on_readable: Callable[[], None] | None = None
        """Called when a list succeeds after one failed: what was held for it can go on now,
        without waiting for the loop's own backoff."""

    @property
    def usable(self) -> bool:
        return self.listed and self.problem is None

    @property
    def what(self) -> str:
        return f"{self.kind.plural} in namespace {self.namespace}"

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"agentdash watch {self.what}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                broken = await self._follow(await self._list())
                if broken is None:
                    continue  # the version expired (410): list again at once
                # The cache is still what the list and the events made it, true as of then:
                # only a list that fails makes it untrustworthy. (Marking it here too set and
                # cleared the problem on every round while watches kept failing: health
                # flapped under a persistent fault.)
                if self._watch_trouble != str(broken):
                    log.warning("cannot watch %s: %s; listing again", self.what, broken)
                self._watch_trouble = str(broken)
                wait = self._retry
            except ApiFailure as failure:
                wait = self._failed(failure, self._retry)
            except Exception as exc:
                # Whatever it was, this task must live on: a dead watch would leave a cache
                # that looks current and is not. Marked as a problem, it is read again.
                log.exception("reading %s failed unexpectedly", self.what)
                unexpected = ApiFailure(f"read {self.what}", None, f"{type(exc).__name__}: {exc}")
                wait = self._failed(unexpected, self._retry)
            self._retry = min(self._retry * 2, self._timing.retry_max_s)
            # Real time on purpose: nothing waits on this but the next observation.
            await asyncio.sleep(wait)

    async def _follow(self, version: str) -> ApiFailure | None:
        """Watch after watch from `version`, until it expires (None) or a watch fails (why)."""
        resume: str | None = version
        while resume is not None:
            try:
                resume = await self._watch(resume)
            except ApiFailure as failure:
                return failure
            self._retry = self._timing.retry_min_s  # a watch ran: back off from the start
            self._watch_trouble = None
        return None

    def _failed(self, failure: ApiFailure, retry: float) -> float:
        if failure.not_found and self.kind.older is not None:
            older = self.kind.older
            self._say_once(
                f"{self.what}: {self.kind.version} is not served here; "
                f"reading them through {older.version}"
            )
            self.kind = older
            return 0.0  # ask the older version at once
        self.settled.set()
        if failure.not_found and self.kind.optional:
            if self.kind.absent:
                self._say_once(f"{self.what}: {self.kind.absent}", logging.WARNING)
            self.objects.clear()
            self.listed, self.problem, self.absent = True, None, True
            self.kind = self.newest  # a cluster upgraded meanwhile serves the newest again
            return self._timing.absent_recheck_s
        if self.kind.keeps_last and self.usable:
            if self._kept != str(failure):
                last = "not installed" if self.absent else f"{len(self.objects)} found"
                log.warning(
                    "cannot read %s again: %s; keeping what was last read (%s)",
                    *(self.what, failure, last),
                )
            self._kept = str(failure)
            return self._timing.absent_recheck_s if self.absent else retry
        before = self.problem
        if before is None or str(before) != str(failure):
            level = logging.DEBUG if self.kind.holds_pools else logging.WARNING
            log.log(level, "cannot read %s: %s", self.what, failure)
        self.problem = failure
        starting = before is not None and not before.forbidden  # the server was away
        return self._timing.recheck_s if failure.forbidden and not starting else retry

    def _say_once(self, message: str, level: int = logging.INFO) -> None:
        if message not in self._said:
            self._said.add(message)
            log.log(level, message)

    async def _list(self) -> str:
        answer = await self._api.call(
            f"list {self.what}", self.kind.request, namespace=self.namespace, priority=DISCOVERY
        )
        self.objects = {name_of(item): item for item in answer.get("items") or []}
        recovered = self.problem is not None
        if recovered or self._kept is not None:
            log.info("reading %s again", self.what)
        self.listed, self.problem, self.absent, self._kept = True, None, False, None
        self.settled.set()
        if recovered and self.on_readable is not None:
            self.on_readable()
        return str(meta(answer).get("resourceVersion", ""))

    async def _watch(self, version: str) -> str | None:
        """Apply events until the server ends the watch. Returns the version to resume from,
        or None when it has expired and the namespace must be listed again."""
        loop = asyncio.get_running_loop()
        opened = loop.time()
        seen = 0
        events = self._api.watch(
            f"watch {self.what}",
            self.kind.request,
            self._timing.watch_s,
            namespace=self.namespace,
            resource_version=version,
            allow_watch_bookmarks=True,
        )
        try:
            async with contextlib.aclosing(events):  # the connection closes with the loop
                async for event in events:
                    seen += 1
                    version = self._apply(event) or version
        except ApiFailure as failure:
            if failure.status == 410:
                return None
            raise
        if not seen and loop.time() - opened < 1.0:
            # A server that ends every watch at once would otherwise be asked again and again.
            await asyncio.sleep(self._timing.retry_min_s)
        return version

    def _apply(self, event: dict[str, Any]) -> str | None:
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            return None
        if kind == "ERROR":
            code = obj.get("code")
            raise ApiFailure(
                f"watch {self.what}",
                code if isinstance(code, int) else None,
                str(obj.get("message") or "watch error"),
            )
        if kind in ("ADDED", "MODIFIED"):
            self.objects[name_of(obj)] = obj
        elif kind == "DELETED":
            self.objects.pop(name_of(obj), None)
        # BOOKMARK events only move the version on.
        version = meta(obj).get("resourceVersion")
        return str(version) if version else None


class WatchedNamespace:
    """The four watches each namespace with pools needs."""

    def __init__(self, api: KubeApi, namespace: str, timing: Timing) -> None:
        def watched(kind: Kind) -> Informer:
            return Informer(api, kind, namespace, timing)

        apps, core = api.apps, api.core
        self.deployments = watched(
            Kind(
                "deployments",
                apps.list_namespaced_deployment_without_preload_content,
                holds_pools=True,
            )
        )
        self.pods = watched(Kind("pods", core.list_namespaced_pod_without_preload_content))
        self.hpas = watched(hpa_kind(api))
        keda = functools.partial(
            api.custom.list_namespaced_custom_object_without_preload_content,
            group="keda.sh",
            version="v1alpha1",
            plural="scaledobjects",
        )
        # KEDA may not be installed: its CRD then answers 404, which means no ScaledObjects.
        self.scaled_objects = watched(
            Kind("scaledobjects.keda.sh", keda, optional=True, holds_pools=True, keeps_last=True)
        )
        self.all = (self.deployments, self.pods, self.hpas, self.scaled_objects)


def hpa_kind(api: KubeApi) -> Kind:
    """HorizontalPodAutoscalers: through autoscaling/v2 (Kubernetes 1.23 and later), else
    v2beta2 (1.12 to 1.25), whose scaleTargetRef, all agentdash reads, is the same. Where
    neither is served, said once, and no HPA is seen: the pools are scaled, not held."""
    v2beta2 = functools.partial(
        api.custom.list_namespaced_custom_object_without_preload_content,
        group="autoscaling",
        version="v2beta2",
        plural="horizontalpodautoscalers",
    )
    return Kind(
        "horizontalpodautoscalers",
        api.autoscaling.list_namespaced_horizontal_pod_autoscaler_without_preload_content,
        version="autoscaling/v2",
        holds_pools=True,
        keeps_last=True,
        older=Kind(
            "horizontalpodautoscalers",
            v2beta2,
            optional=True,
            version="autoscaling/v2beta2",
            holds_pools=True,
            keeps_last=True,
            absent="neither autoscaling/v2 nor autoscaling/v2beta2 is served, so agentdash "
            "cannot tell whether an HPA scales a pool's Deployment; it scales them as if none did",
        ),
    )
