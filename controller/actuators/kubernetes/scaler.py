"""DeploymentScaler: the Actuator for a real cluster.

Each pool is a Deployment. Replicas, readiness and pods come from watches (one per kind and
namespace, see controller.actuators.kubernetes.informer); a change is a patch of the
Deployment's `scale` subresource, never of the Deployment itself, so no other field can be
touched by accident.

A pool agentdash must not or cannot scale (its Deployment is gone, the namespace is
forbidden, an HPA or a KEDA ScaledObject already scales it, its scale was refused: see
controller.actuators.kubernetes.discovery) is named in `problems`, with the reason: the
policy then has no observation for it and holds it. Its replicas are in `observe()` still
where its Deployment is read (another autoscaler's pods take room in the cluster too), so
`problems`, not `observe()`, says which pools may be scaled. `SourceError` is raised only
when the cluster cannot be read at all (no namespace answers, and not because of
permissions), which the loop already turns into stale pools that hold their replicas.

Every call is bounded by `deadline_s` and goes through one budget (`qps`, `burst`) that
serves the calls by what they are for (controller.actuators.kubernetes.budget), so that a
leader can fence its writes by its lease and the reads that keep pools scalable never wait
behind scale calls. How a scale is written, never blind, is in
controller.actuators.kubernetes.writer; how its reason is said, after the other pools'
scales, in controller.actuators.kubernetes.reasons (a scale-down first marks its idle pods,
within the same budget: see controller.actuators.kubernetes.deletion_cost).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import replace
from types import TracebackType
from typing import Self

from kubernetes.aio.client import ApiClient

from controller.actuators.base import Desire, Fence, Wanted
from controller.actuators.kubernetes.api import KubeApi, RetryPolicy, connect_client
from controller.actuators.kubernetes.cluster_events import read_events
from controller.actuators.kubernetes.deletion_cost import IdleFirst
from controller.actuators.kubernetes.discovery import Discovery
from controller.actuators.kubernetes.informer import Timing
from controller.actuators.kubernetes.keda import KedaPause
from controller.actuators.kubernetes.objects import PodIndex, status
from controller.actuators.kubernetes.read_back import Change, replicas_of
from controller.actuators.kubernetes.reasons import ReasonTeller
from controller.actuators.kubernetes.writer import ScaleWriter
from controller.core.bad_messages import BadMessages
from controller.core.busy import BusyPods
from controller.core.config import Config, DeploymentRef
from controller.core.model import ClusterEvent, Pod, PoolState, ScaleDecision, SourceError

log = logging.getLogger("agentdash.kube")


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
    `bad`: counts what the API sends that is not what it should (controller.core.bad_messages).
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
        bad: BadMessages | None = None,
    ) -> None:
        unknown = set(take_over) - set(config.pools)
        if unknown:
            raise ValueError(f"take_over names pools that are not configured: {sorted(unknown)}")
        self.annotate = annotate
        self._api = KubeApi(
            client,
            qps=qps,
            burst=burst,
            timeout_s=request_timeout_s,
            deadline_s=deadline_s,
            retry=retry,
            sleep=sleep,
            jitter=jitter,
            bad=bad,
        )
        self._owns_client = owns_client
        timing = timing or Timing()
        self._discovery = Discovery(
            self._api,
            {name: p.deployment for name, p in config.pools.items()},
            take_over=take_over,
            timing=timing,
            sync_timeout_s=sync_timeout_s,
        )
        self._clock = clock
        self._busy = busy
        self._chosen: frozenset[str] = frozenset()
        self._keda = KedaPause(self._api)
        self._reasons = ReasonTeller(self._api, self._discovery, annotate=annotate)
        self._writer = ScaleWriter(
            self._api,
            self._discovery,
            self._reasons,
            keda=self._keda,
            idle_first=None if busy is None else IdleFirst(self._api, busy, timing.recheck_s),
            tiers={name: config.tier_priority(name) for name in config.pools},
            recheck_s=timing.recheck_s,
            dry_run=dry_run,
        )

    @property
    def api(self) -> KubeApi:
        """The client and its budget (a Kubernetes Lease may share it: its calls go first)."""
        return self._api

    @property
    def dry_run(self) -> bool:
        return self._writer.dry_run

    @property
    def untold(self) -> int:
        """Scales whose annotation and Event were given up: superseded, or out of time."""
        return self._reasons.untold

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
        bad: BadMessages | None = None,
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
            bad=bad,
        )

    def when_readable(self, callback: Callable[[], None]) -> None:
        """Call `callback` when a namespace's Deployments can be read again after an outage
        (the API server restarted or reachable again): the loop ticks at once, as it does
        when NATS is back, instead of at the end of its backoff."""
        self._discovery.on_readable = callback

    @property
    def problems(self) -> dict[str, str]:
        """Pool -> why agentdash does not scale it now, as of the last observe() or scale()."""
        return dict(self._discovery.problems)

    @property
    def left_by_choice(self) -> frozenset[str]:
        """Of `problems`, the pools another autoscaler scales as their config lets it, their
        Deployment read (as of the last observe()): a choice, not a fault."""
        return self._chosen

    async def observe(self) -> Mapping[str, PoolState]:
        discovery = self._discovery
        await discovery.start(self._api.deadline())
        self._writer.settle_doubts()  # what the watch says of PATCHes whose answer was lost
        now = self._clock()
        states: dict[str, PoolState] = {}
        problems: dict[str, str] = {}
        pods: dict[str, PodIndex] = {}
        outage = discovery.outage()
        chosen: set[str] = set()
        for pool, ref in discovery.pools.items():
            hold = discovery.hold(pool, now)
            if hold is not None:
                problems[pool] = hold.reason
                if hold.chosen:
                    chosen.add(pool)
            if outage is None and discovery.readable(pool):
                states[pool] = self._state(pool, ref, pods, now)
        # Set even in an outage, so that a forbidden namespace's pools still say why.
        self._set_problems(problems)
        self._chosen = frozenset(chosen)
        if outage is not None:
            raise SourceError(outage)
        return states

    async def events_of(self, pool: str, pod: str | None = None) -> list[ClusterEvent]:
        ref = self._discovery.pools[pool]
        if pod is None:
            return await read_events(self._api, ref.namespace, "Deployment", ref.name)
        return await read_events(self._api, ref.namespace, "Pod", pod)

    async def scale(self, pool: str, replicas: int) -> None:
        """The Actuator protocol: scale, with an annotation that names no reason."""
        await self._writer.scale(pool, Change(replicas, None, self._clock()), None, None)

    async def scale_with_reason(
        self,
        pool: str,
        replicas: int,
        decision: ScaleDecision,
        now: float,
        fence: Fence | None = None,
        desire: Desire | None = None,
    ) -> Wanted | None:
        """Scale, and say why on the Deployment: the `agentdash.io/last-decision` annotation
        (with `annotate`) and an Event, both shown by `kubectl describe deployment`. Each
        write is bounded by `fence`, or not sent. With `desire`, the change made is the
        newest wish when its turn comes: returned, or None if nothing had to be written."""
        made = await self._writer.scale(pool, Change(replicas, decision, now), fence, desire)
        if made is None or made.decision is None:
            return None
        return Wanted(made.decision, made.now)

    def take_landed(self, pool: str) -> Wanted | None:
        """A change that landed though its call failed, learned since: to count once."""
        return self._writer.take_landed(pool)

    async def release(self) -> None:
        """Give back to KEDA every ScaledObject this scaler paused (take_over), by one
        deadline; a failure is logged, never raised. Call it while this process still leads,
        before the lease goes: a new leader then pauses them again before it scales. `close()`
        calls it too."""
        await self._keda.release(self._api.deadline())

    async def close(self) -> None:
        await self.release()
        await self._reasons.close()
        await self._discovery.stop()
        if self._owns_client:
            await self._api.client.close()  # type: ignore[no-untyped-call]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _state(
        self, pool: str, ref: DeploymentRef, pods: dict[str, PodIndex], now: float
    ) -> PoolState:
        namespace = self._discovery.of(pool)
        deployment = namespace.deployments.objects[ref.name]
        replicas = replicas_of(deployment)
        if not namespace.pods.usable:
            # Without the pods, the Deployment's own count: right, if a little behind.
            return PoolState(replicas, int(status(deployment).get("readyReplicas") or 0))
        if ref.namespace not in pods:  # indexed once per observation, for all its pools
            pods[ref.namespace] = PodIndex(namespace.pods.objects.values())
        chosen = pods[ref.namespace].pods_of(deployment, pool, now)
        if self._busy is not None:
            chosen = tuple(with_tasks(p, self._busy.in_hand(pool, p.name, now)) for p in chosen)
        return PoolState(replicas, sum(1 for p in chosen if p.ready), chosen)

    def _set_problems(self, problems: dict[str, str]) -> None:
        # At debug: the loop tells each pool's reason once, with its health
        # (controller.runtime.health); said here too, every reason came twice.
        for pool, problem in problems.items():
            if self._discovery.problems.get(pool) != problem:
                log.debug("%s: not scaled: %s", pool, problem)
        for pool in self._discovery.problems.keys() - problems.keys():
            log.debug("%s: can be scaled again", pool)
        self._discovery.problems = problems


def with_tasks(pod: Pod, in_hand: int | None) -> Pod:
    """The pod as the Pods screen shows it: the tasks its worker last reported in hand (the
    busy report says how many, not which)."""
    return replace(pod, task=f"{in_hand} in hand") if in_hand else pod
