"""What the cluster holds and who else scales it: whether each pool may be scaled now.

One watch per kind and namespace (controller.actuators.kubernetes.informer) keeps the
Deployments, their pods, the HPAs and KEDA's ScaledObjects current. A pool is left alone,
with the reason, while its Deployment cannot be read or is gone, while its scale was refused
(403) not long ago, or while another autoscaler scales it (unless the pool says
`take_over`). Whether another one does is read from the HPAs and ScaledObjects as last
listed: a later list that fails or is slow keeps that answer (the informer), so a slow API
holds no pool that it held not before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from controller.actuators.kubernetes.api import KubeApi
from controller.actuators.kubernetes.informer import Informer, Timing, WatchedNamespace
from controller.actuators.kubernetes.keda import PAUSED, left_paused
from controller.actuators.kubernetes.objects import bad_counts, other_scaler
from controller.core.config import DeploymentRef

log = logging.getLogger("agentdash.kube")

RBAC_HINT = "`agentdash rbac --config FILE | kubectl apply -f -` grants what agentdash needs"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A pool whose scale the API refused (403), and until when not to ask again."""

    reason: str
    until: float


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a pool is left alone now. `chosen`: another autoscaler scales it, as its config
    lets it (no take_over), and its Deployment is read: a standing choice the operator made,
    not a fault of agentdash's (it does not make the daemon unready)."""

    reason: str
    chosen: bool = False


class Discovery:
    """The watches of every namespace with pools, and what they say of each pool."""

    def __init__(
        self,
        api: KubeApi,
        pools: Mapping[str, DeploymentRef],
        *,
        take_over: Collection[str],
        timing: Timing,
        sync_timeout_s: float,
    ) -> None:
        self.pools = pools
        self.namespaces = {
            ref.namespace: WatchedNamespace(api, ref.namespace, timing) for ref in pools.values()
        }
        self.take_over = frozenset(take_over)
        self.refused: dict[str, Refusal] = {}
        """Pools whose scale patch was refused (403)."""
        self.problems: dict[str, str] = {}
        """Pool -> why it is not scaled now, as of the last observation or scale."""
        self._sync_timeout_s = sync_timeout_s
        self.on_readable: Callable[[], None] | None = None
        """Called when a namespace's Deployments can be read again after they could not."""
        for namespace in self.namespaces.values():
            namespace.deployments.on_readable = self._readable
        self._started: asyncio.Task[None] | None = None
        self._warned_take_over: set[str] = set()

    def _readable(self) -> None:
        if self.on_readable is not None:
            self.on_readable()

    def of(self, pool: str) -> WatchedNamespace:
        return self.namespaces[self.pools[pool].namespace]

    async def start(self, deadline: float) -> None:
        """Start every watch once, and wait (bounded, and by `deadline`) for their first
        answers. Whatever has not answered by then is reported as such."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._start_watches())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await asyncio.shield(self._started)

    async def stop(self) -> None:
        if self._started is not None:
            self._started.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._started
        for namespace in self.namespaces.values():
            for informer in namespace.all:
                await informer.stop()

    async def _start_watches(self) -> None:
        informers = [i for ns in self.namespaces.values() for i in ns.all]
        for informer in informers:
            informer.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._sync_timeout_s):
                for informer in informers:  # in turn: the wait is for the slowest anyway
                    await informer.settled.wait()

    def outage(self) -> str | None:
        """Why the cluster cannot be read at all, or None: no namespace's Deployments can be
        read, and the reason is the API (down, too slow, or refusing our credentials)."""
        # A 403 is an answer: the API works, that namespace is just not ours. Only the others
        # tell whether it is down (counting a forbidden one as working hid an outage).
        answering = [
            ns.deployments
            for ns in self.namespaces.values()
            if not (ns.deployments.problem and ns.deployments.problem.forbidden)
        ]
        if not answering or any(i.usable for i in answering):
            return None
        first = next((i.problem for i in answering if i.problem is not None), None)
        if first is not None:
            return f"cannot read the cluster: {first}"
        return "cannot read the cluster: no answer yet"

    def readable(self, pool: str) -> bool:
        """Whether the pool's Deployment is read, with counts a real API server answers: its
        replicas are then known, whether agentdash may scale it or not."""
        ref = self.pools[pool]
        deployments = self.namespaces[ref.namespace].deployments
        if not deployments.usable:
            return False
        deployment = deployments.objects.get(ref.name)
        return deployment is not None and bad_counts(deployment) is None

    def problem(self, pool: str, now: float) -> str | None:
        """Why this pool must be left alone now, or None."""
        hold = self.hold(pool, now)
        return None if hold is None else hold.reason

    def hold(self, pool: str, now: float) -> Hold | None:
        """Why this pool must be left alone now, and whether by the operator's choice."""
        ref = self.pools[pool]
        namespace = self.namespaces[ref.namespace]
        where = f"Deployment {ref.namespace}/{ref.name}"
        if not namespace.deployments.usable:
            return Hold(unreadable(namespace.deployments, ref.namespace))
        deployment = namespace.deployments.objects.get(ref.name)
        if deployment is None:
            return Hold(f"{where} not found")
        # Scaled from counts no real API server answers, it would be scaled from a number
        # nobody set (and a step from it refused at the next leader's restore).
        counts = bad_counts(deployment)
        if counts is not None:
            return Hold(f"{where}: {counts}")
        refused = self.refused.get(pool)
        if refused is not None and now < refused.until:
            return Hold(refused.reason)
        # take_over scales past an HPA unread, but must read the ScaledObjects it pauses.
        for informer in (namespace.scaled_objects, namespace.hpas):
            if not informer.usable and (
                pool not in self.take_over or informer is not namespace.hpas
            ):
                reason = unreadable(informer, ref.namespace)
                return Hold(f"cannot tell whether another autoscaler scales {where}: {reason}")
        owner = other_scaler(
            ref.namespace,
            ref.name,
            namespace.hpas.objects.values(),
            namespace.scaled_objects.objects.values(),
        )
        if owner is None:
            return None
        if pool in self.take_over:
            self._warn_take_over(pool, where, owner)
            return None
        if left_paused(ref.name, namespace.scaled_objects.objects.values()):
            # take_over was dropped while agentdash held KEDA paused: nobody scales it now.
            return Hold(
                f"{where}: {owner} is still paused by agentdash (take_over is no longer set); "
                f"remove its annotation {PAUSED} to give it back to KEDA, or set "
                f"pools.{pool}.take_over: true again"
            )
        return Hold(
            f"{where} is scaled by {owner}; agentdash leaves it alone "
            f"(set pools.{pool}.take_over: true to scale it anyway)",
            chosen=True,
        )

    def _warn_take_over(self, pool: str, where: str, owner: str) -> None:
        if pool in self._warned_take_over:
            return
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


def unreadable(informer: Informer, namespace: str) -> str:
    if informer.problem is None:
        return f"{informer.what}: no answer yet"
    if informer.problem.forbidden:
        return f"{informer.problem} ({RBAC_HINT} in namespace {namespace})"
    return str(informer.problem)
