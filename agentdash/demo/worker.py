"""A simulated agent worker, as a pod of the simulated cluster runs it.

It pulls from its pool's durable consumer with explicit acks, "works" for the task's time,
publishes its token usage, then acks. Told to stop, it finishes the task in hand if that
takes at most GRACE_S more, and otherwise naks it so JetStream redelivers it to another
worker: a task is never lost to a scale-down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from controller.config import Config
from controller.simcluster import PodHandle
from controller.usage import USAGE_SUBJECT

GRACE_S = 1.0
FETCH_WAIT_S = 0.5


@dataclass(slots=True)
class Ledger:
    """What the workers did, for the demo's summary."""

    completed: set[str] = field(default_factory=set)
    redelivered: int = 0
    naked: int = 0
    tokens: int = 0


class AgentWorker:
    def __init__(self, nc: Client, config: Config, ledger: Ledger, speed: float = 1.0) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._config = config
        self._ledger = ledger
        self._speed = speed
        """Work runs this many times faster than the task says (tests use > 1)."""

    async def __call__(self, pod: PodHandle) -> None:
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
                    await self._work(pod, msg)
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def _work(self, pod: PodHandle, msg: Msg) -> None:
        task = json.loads(msg.data)
        if msg.metadata.num_delivered and msg.metadata.num_delivered > 1:
            self._ledger.redelivered += 1
        pod.task = task["id"]
        work_s = float(task["work_s"]) / self._speed
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pod.stopping.wait(), timeout=work_s)
        left = work_s - (time.monotonic() - started)
        if left > GRACE_S:
            await msg.nak()  # back to the queue, redelivered to a worker that stays
            self._ledger.naked += 1
            pod.task = None
            return
        if left > 0:
            await asyncio.sleep(left)  # the simulated work's last moments
        report = {"tenant": task["tenant"], "pool": pod.pool, "tokens": task["tokens"],
                  "work_s": task["work_s"], "task": task["id"]}  # fmt: skip
        await self._nc.publish(f"{USAGE_SUBJECT}.{task['tenant']}", json.dumps(report).encode())
        try:
            await msg.ack_sync()
        except (nats.errors.Error, TimeoutError):
            pod.task = None
            return  # not acknowledged: JetStream redelivers it after ack_wait
        self._ledger.completed.add(task["id"])
        self._ledger.tokens += int(task["tokens"])
        pod.task = None
