"""A simulated agent worker, as a pod of the simulated cluster runs it.

A pod works on up to its pool's `concurrency` tasks at once: one slot per task, each pulling
from the pool's durable consumer with explicit acks. A slot "works" for the task's time,
publishes its token usage, then acks. Told to stop, it finishes the task in hand if that
takes at most GRACE_S more, and otherwise naks it so JetStream redelivers it to another
worker: a task is never lost to a scale-down. Each time its count of tasks in hand changes,
the pod says so (`agentdash.busy.<tenant>`), so a scale-down takes idle pods first and
redelivers nothing.

An ack whose confirmation does not come (NATS down or stalled) is sent again until it is
confirmed: acks are idempotent, a second ack of the same message is confirmed like the first.
Only a stopping pod gives up, after ACK_RETRY_S; the task is then "unconfirmed": done, and
either acked or back in the queue for another worker, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from controller.actuators.simcluster import PodHandle
from controller.core.config import Config
from controller.sources.usage import BUSY_SUBJECT, USAGE_SUBJECT

GRACE_S = 1.0
FETCH_WAIT_S = 0.5
ACK_WAIT_S = 1.0
"""How long one ack waits for the server's confirmation."""
ACK_RETRY_S = 5.0
"""How long a stopping pod keeps trying to have an ack confirmed."""
RETRY_PAUSE_S = 0.2
MSG_ID = "Nats-Msg-Id"
FOREIGN_DELAY_S = 30.0
"""How long a message that is not a demo task is handed back for before it comes round again:
a term would delete it from a work-queue stream."""
"""The header that names a task uniquely: JetStream drops a re-published duplicate by it."""


@dataclass(slots=True)
class Ledger:
    """What the workers did, for the demo's summary. Tasks are named by their key (`task_key`)."""

    completed: set[str] = field(default_factory=set)
    unconfirmed: set[str] = field(default_factory=set)
    """Done and acked, but the ack was never confirmed: acked, or redelivered."""
    redelivered: int = 0
    naked: int = 0
    foreign: set[int] = field(default_factory=set)
    """Messages on a task subject that are not a demo task, by stream sequence: never worked
    on nor deleted, but handed back (FOREIGN_DELAY_S): someone's, not the demo's to drop."""
    tokens: int = 0


def task_key(msg: Msg, task: dict[str, Any]) -> str:
    """The task's unique name: its message id if it has one (the demo sets it), else its id."""
    headers = msg.headers or {}
    return str(headers.get(MSG_ID) or task["id"])


class AgentWorker:
    def __init__(self, nc: Client, config: Config, ledger: Ledger, speed: float = 1.0) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._config = config
        self._ledger = ledger
        self._speed = speed
        """Work runs this many times faster than the task says (tests use > 1)."""

    async def __call__(self, pod: PodHandle) -> None:
        held: list[str] = []
        await self._tell_busy(pod, held)  # up, and idle
        async with asyncio.TaskGroup() as slots:
            for _ in range(self._config.pools[pod.pool].concurrency):
                slots.create_task(self._slot(pod, held))

    async def _slot(self, pod: PodHandle, held: list[str]) -> None:
        """One task at a time; each slot has its own pull subscription (its own inbox)."""
        queue = self._config.pools[pod.pool].queue
        sub = await self._js.pull_subscribe_bind(queue.consumer, queue.stream)
        try:
            while not pod.stopping.is_set():
                try:
                    msgs = await sub.fetch(1, timeout=FETCH_WAIT_S)
                except (nats.errors.TimeoutError, TimeoutError):
                    continue
                except nats.errors.Error:
                    await asyncio.sleep(FETCH_WAIT_S)  # NATS is reconnecting; try again
                    continue
                for msg in msgs:
                    await self._work(pod, msg, held)
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def _work(self, pod: PodHandle, msg: Msg, held: list[str]) -> None:
        task = _parse(msg.data)
        if task is None:
            self._ledger.foreign.add(msg.metadata.sequence.stream)
            with contextlib.suppress(nats.errors.Error):
                await msg.nak(delay=FOREIGN_DELAY_S)
            return
        if msg.metadata.num_delivered and msg.metadata.num_delivered > 1:
            self._ledger.redelivered += 1
        held.append(task["id"])
        _show(pod, held)
        await self._tell_busy(pod, held)
        try:
            await self._run(pod, msg, task)
        finally:
            held.remove(task["id"])
            _show(pod, held)
            await self._tell_busy(pod, held)

    async def _tell_busy(self, pod: PodHandle, held: list[str]) -> None:
        tenant = self._config.pools[pod.pool].tenant
        report = {"tenant": tenant, "pool": pod.pool, "pod": pod.name, "busy": len(held)}
        with contextlib.suppress(nats.errors.Error):  # telemetry: a lost one costs no task
            await self._nc.publish(f"{BUSY_SUBJECT}.{tenant}", json.dumps(report).encode())

    async def _run(self, pod: PodHandle, msg: Msg, task: dict[str, Any]) -> None:
        work_s = task["work_s"] / self._speed
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pod.stopping.wait(), timeout=work_s)
        left = work_s - (time.monotonic() - started)
        if left > GRACE_S:
            # Back to the queue, redelivered to a worker that stays. If the nak cannot be
            # sent, JetStream redelivers the task all the same once its ack wait is over.
            with contextlib.suppress(nats.errors.Error):
                await msg.nak()
            self._ledger.naked += 1
            return
        if left > 0:
            await asyncio.sleep(left)  # the simulated work's last moments
        report = {
            "tenant": task["tenant"],
            "pool": pod.pool,
            "tokens": task["tokens"],
            "work_s": task["work_s"],
            "task": task["id"],
        }
        with contextlib.suppress(nats.errors.Error):  # a usage report is telemetry, not the task
            await self._nc.publish(f"{USAGE_SUBJECT}.{task['tenant']}", json.dumps(report).encode())
        key = task_key(msg, task)
        if await self._ack(pod, msg):
            self._ledger.completed.add(key)
            self._ledger.tokens += task["tokens"]
        else:
            self._ledger.unconfirmed.add(key)

    async def _ack(self, pod: PodHandle, msg: Msg) -> bool:
        """Ack until the server confirms it; False if a stopping pod gives up first."""
        give_up: float | None = None
        while True:
            try:
                await msg.ack_sync(timeout=ACK_WAIT_S)
                return True
            except (nats.errors.Error, TimeoutError):
                pass
            if self._nc.is_closed:
                return False
            if pod.stopping.is_set():
                now = time.monotonic()
                give_up = give_up if give_up is not None else now + ACK_RETRY_S
                if now >= give_up:
                    return False
            await asyncio.sleep(RETRY_PAUSE_S)  # NATS is reconnecting: pace the retries


def _parse(data: bytes) -> dict[str, Any] | None:
    """The task in a message, or None if it is not one the demo's workload would send."""
    try:
        task = json.loads(data)
        return {
            "id": str(task["id"]),
            "tenant": str(task["tenant"]),
            "work_s": _finite(task["work_s"], 3600.0),
            "tokens": int(_finite(task["tokens"], 1e9)),
        }
    except (ValueError, TypeError, KeyError):
        return None


def _finite(value: Any, limit: float) -> float:
    number = float(value)
    if not 0 <= number <= limit:  # also refuses nan and inf
        raise ValueError(f"{value!r} out of 0..{limit:g}")
    return number


def _show(pod: PodHandle, held: list[str]) -> None:
    """What the pod is doing, for the dashboard's pods table: the first task and how many more."""
    more = f" +{len(held) - 1}" if len(held) > 1 else ""
    pod.task = f"{held[0]}{more}" if held else None
