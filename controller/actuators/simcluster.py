"""A cluster in this process: Deployments as pod counts, pods as asyncio tasks.

A scaled-up pod starts after its pool's cold start, becomes ready, and runs a worker (if one
is given) until it is told to stop. Scale-down picks pods as a ReplicaSet does: those not
ready yet first, then the lower pod-deletion-cost, then the newest; given who is busy (`busy`,
the workers' reports), it first marks idle pods with a low cost, as the Kubernetes actuator
does (controller.core.busy). It terminates them gracefully: the worker finishes or naks what it has
in hand, and the pod is gone only when its worker returns. Like a Deployment, `replicas` is the
desired count; terminating pods still show in `pods` until they are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from controller.actuators.event_log import EventLog
from controller.core.busy import IDLE_COST, BusyPods, plan_marks
from controller.core.config import Config
from controller.core.model import ClusterEvent, Pod, PoolState


@dataclass(slots=True)
class PodHandle:
    """What a worker sees of its pod: when to stop, and where to say what it is doing."""

    name: str
    pool: str
    started_at: float
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    ready: bool = False
    terminating: bool = False
    task: str | None = None
    runner: asyncio.Task[None] | None = None
    deletion_cost: int = 0
    """Its `controller.kubernetes.io/pod-deletion-cost`: lower goes first on a scale-down."""
    changed: Callable[[str], None] | None = field(default=None, repr=False, compare=False)
    """Told its pool when what `snapshot` shows changes (the cluster's cached view)."""

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name in SHOWN:
            changed = getattr(self, "changed", None)  # not set yet while __init__ runs
            if changed is not None:
                changed(self.pool)

    def snapshot(self) -> Pod:
        phase = "Terminating" if self.terminating else ("Running" if self.ready else "Pending")
        return Pod(
            self.name,
            self.pool,
            phase,
            self.ready and not self.terminating,
            self.started_at,
            self.task,
        )


SHOWN = frozenset({"ready", "terminating", "task"})
"""What a pod's owner (the cluster, its worker) may change of what `snapshot` shows."""

Worker = Callable[[PodHandle], Awaitable[None]]


class SimulatedCluster:
    def __init__(
        self,
        config: Config,
        *,
        worker: Worker | None = None,
        clock: Callable[[], float] = time.time,
        cold_start: Callable[[str], float] | None = None,
        busy: BusyPods | None = None,
    ) -> None:
        self._config = config
        self._busy = busy
        self._worker = worker
        self._clock = clock
        self._cold_start = cold_start or (lambda pool: config.pools[pool].cold_start_seconds)
        self._replicas = dict.fromkeys(config.pools, 0)
        self._pods: dict[str, list[PodHandle]] = {p: [] for p in config.pools}
        self._names = itertools.count(1)
        self.scale_calls: list[tuple[float, str, int]] = []
        self._states: dict[str, PoolState] = {}
        """Each pool's state as last observed; only the `_changed` ones are built again (an
        idle fleet of 10,000 pools rebuilt every pod's snapshot every tick: 16 ms)."""
        self._changed = set(config.pools)
        self._events = EventLog(clock)

    async def observe(self) -> Mapping[str, PoolState]:
        states = self._states
        for pool in self._changed:
            pods = self._pods[pool]
            states[pool] = PoolState(
                self._replicas[pool],
                sum(1 for p in pods if p.ready and not p.terminating),
                tuple(p.snapshot() for p in pods),
            )
        self._changed.clear()
        return dict(states)  # a view of now: what a caller holds does not change under it

    async def scale(self, pool: str, replicas: int) -> None:
        self.scale_calls.append((self._clock(), pool, replicas))
        deployment = self._config.pools[pool].deployment.name
        self._events.scaled(deployment, self._replicas[pool], replicas)
        self._replicas[pool] = replicas
        self._changed.add(pool)
        live = [p for p in self._pods[pool] if not p.terminating]
        for _ in range(replicas - len(live)):
            self._start(pool)
        if len(live) > replicas:
            if self._busy is not None:
                self._mark_idle(self._busy, pool, live, len(live) - replicas)
            ranked = sorted(live, key=lambda p: (p.ready, p.deletion_cost, -p.started_at))
            for pod in ranked[: len(live) - replicas]:
                pod.terminating = True
                pod.stopping.set()
                self._events.stopping(pod.name)

    async def events_of(self, pool: str, pod: str | None = None) -> list[ClusterEvent]:
        if pod is not None:
            return self._events.of("Pod", pod)
        return self._events.of("Deployment", self._config.pools[pool].deployment.name)

    def _mark_idle(self, busy: BusyPods, pool: str, live: list[PodHandle], victims: int) -> None:
        """Mark idle pods with a low deletion cost, as
        controller.actuators.kubernetes.deletion_cost does."""
        idle = busy.idle(pool, [p.name for p in self._pods[pool]], self._clock())
        marked = {p.name for p in live if p.deletion_cost == IDLE_COST}
        plan = plan_marks([p.snapshot() for p in live], marked, idle, victims)
        for pod in live:
            if pod.name in plan.mark:
                pod.deletion_cost = IDLE_COST
            elif pod.name in plan.unmark:
                pod.deletion_cost = 0

    def _start(self, pool: str) -> None:
        pod = PodHandle(f"{pool}-{next(self._names):05d}", pool, self._clock())
        pod.changed = self._changed.add
        self._pods[pool].append(pod)
        self._changed.add(pool)
        self._events.scheduled(self._config.pools[pool].deployment.namespace, pod.name)
        pod.runner = asyncio.create_task(self._run(pod), name=pod.name)

    async def _run(self, pod: PodHandle) -> None:
        try:
            delay = self._cold_start(pod.pool)
            if delay > 0:
                with contextlib.suppress(TimeoutError):  # cold start over: the pod comes up
                    await asyncio.wait_for(pod.stopping.wait(), timeout=delay)
            if not pod.stopping.is_set():
                pod.ready = True
                self._events.started(pod.name)
                if self._worker is not None:
                    await self._worker(pod)
                else:
                    await pod.stopping.wait()
        finally:
            self._pods[pod.pool].remove(pod)
            self._changed.add(pod.pool)

    async def close(self, timeout: float = 10.0) -> None:
        """Stop every pod gracefully and wait for them."""
        runners = []
        for pods in self._pods.values():
            for pod in pods:
                pod.terminating = True
                pod.stopping.set()
                if pod.runner is not None:
                    runners.append(pod.runner)
        if runners:
            await asyncio.wait(runners, timeout=timeout)
        for pool in self._replicas:
            self._replicas[pool] = 0
        self._changed.update(self._replicas)
