"""The embedded demo fleet: a real nats-server, the example config, a seeded workload, the
simulated cluster running agent workers, and the live controller, all in one process.

`DemoFleet` is used by `agentdash demo` (headless, or under the dashboard) and by the tests.
It never drops a task: on stop, workers nak what they hold, and what is left stays in
JetStream. The summary accounts for every task published, by name: completed, still queued
(read from the stream itself), or "unconfirmed" (acked while NATS could not confirm it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client

from agentdash.cancelling import cancel_until_done
from agentdash.demo.server_keeper import keep_running
from agentdash.demo.shared_server import refuse_a_shared_server
from agentdash.demo.tally import Summary, account, keys_left
from agentdash.demo.worker import MSG_ID, AgentWorker, Ledger
from agentdash.demo.workload import Task, tasks
from agentdash.errors import StartError
from agentdash.nats_client import FirstAttempts, jetstream_error, unreached_reason
from agentdash.nats_server import NatsServer
from controller.actuators.simcluster import SimulatedCluster
from controller.coordination.overrides import OverrideStore
from controller.coordination.overrides_document import OverridesDocument
from controller.core.config import Config
from controller.core.events import EventBus, ScaleEvent
from controller.core.model import Overrides
from controller.core.printable import redacted
from controller.runtime.loop import Reconciler
from controller.sources.jetstream import JetStreamLagSource
from controller.sources.jetstream_queues import QueueError, ensure_queues
from controller.sources.queue_plan import QueueCheck
from controller.sources.usage import NatsBusySource, NatsUsageSource

EARLIER_TODAY = {"initech": 950_000, "globex": 2_400_000}
"""Tokens the demo tenants 'used earlier today', so budget lines show within a minute."""
ACK_WAIT_S = 30.0
"""How long JetStream waits for a worker's ack before redelivering (at speed 1)."""
READ_TIMEOUT_S = 2.0
CLOSE_WAIT_S = 2.0
"""At stop, the most spent closing the NATS connection: there is nothing left to save."""
CONNECT_WAIT_S = 5.0
"""How long --nats-url's server has to answer before the demo says it cannot reach it."""
RETRY_PAUSE_S = 0.2
FORGET_EVERY = 256
"""Tasks published between two sweeps that count the done ones and let their keys go."""


@dataclass(slots=True)
class DemoOptions:
    config: Config
    seed: int = 7
    duration: float | None = 60.0
    """Seconds of workload; None repeats the cycle until stopped."""
    drain: bool = False
    nats_url: str | None = None
    speed: float = 1.0
    """Time runs this many times faster for the workload and the work (tests use > 1)."""
    cold_start: float | None = None
    """Override every pool's cold start (seconds); None keeps the config's."""
    overrides: Path | None = None
    """Where operator overrides persist (--overrides); None keeps them in memory only, so
    that each demo starts clean."""


class DemoFleet:
    def __init__(
        self,
        options: DemoOptions,
        *,
        on_scale: Callable[[ScaleEvent], None] | None = None,
        log: Callable[[str], None] | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        """`log`: every note (headless prints them). `notice`: the few an operator must see
        on a dashboard too (its embedded nats-server died, and came back)."""
        self.options = options
        self.config = options.config
        self.bus = EventBus(size=10_000)
        self.ledger = Ledger()
        self.run_id = secrets.token_hex(4)
        """Names this run's tasks, so that runs sharing a NATS server never mix them up."""
        self.sent: set[str] = set()
        self.published: set[str] = set()
        """Keys of the tasks that JetStream confirmed it stored."""
        self.forgotten = 0
        """Tasks published and done whose keys were let go (`forget_done`)."""
        self.summary = Summary(peak_replicas=dict.fromkeys(self.config.pools, 0))
        self.server: NatsServer | None = None
        self.nc: Client | None = None
        self.loop: Reconciler | None = None
        self.cluster: SimulatedCluster | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._events = self.bus.subscribe()
        self._on_scale = on_scale
        self._log = log or (lambda line: None)
        self._notice = notice or (lambda line: None)
        self._nats_errors: set[str] = set()
        self._first: FirstAttempts | None = None
        """What the first connection's attempts met, for the line if it fails."""
        self._connected = asyncio.Event()
        self.workload_done = asyncio.Event()
        self.kept: str | None = None
        """What the --overrides file brought from an earlier run, said at start."""

    async def start(self) -> None:
        # The overrides file first: a bad one is one line before anything has started.
        store = OverrideStore(self.config, self.options.overrides)
        url = self.options.nats_url
        if url is None:
            self.server = NatsServer().start()
            url = self.server.url
        self.nc = await self._connect(url)
        self._connected.set()
        # Scaled with the demo's time, but never shorter than a worker's wait for an ack.
        ack_wait = max(5.0, ACK_WAIT_S / self.options.speed)
        try:  # a --nats-url without JetStream, or whose account has none
            if self.server is None:
                await refuse_a_shared_server(self.nc, self.config, url)
            vet = functools.partial(_check_routes, url=url)  # before anything is made beside
            await ensure_queues(self.nc, self.config, ack_wait=ack_wait, vet=vet)
        except (nats.errors.Error, TimeoutError) as exc:
            raise jetstream_error(url, exc, said=self.nc.last_error) from None
        except QueueError as exc:
            raise StartError(f"JetStream at {redacted(url)}: {exc}") from None
        lag = JetStreamLagSource(self.nc, self.config)
        await lag.start()
        usage = NatsUsageSource(self.nc, self.config, time.time)
        usage.ledger.preload(EARLIER_TODAY, time.time())
        await usage.start()
        busy = NatsBusySource(self.nc, self.config, time.time)  # idle pods go first
        await busy.start()
        worker = AgentWorker(self.nc, self.config, self.ledger, self.options.speed)
        cold = self.options.cold_start
        self.cluster = SimulatedCluster(
            self.config,
            worker=worker,
            cold_start=None if cold is None else (lambda pool: cold),
            busy=busy.ledger,
        )
        if store.current() != Overrides() or store.dropped:
            said = OverridesDocument.of(store.current()).summary()
            if store.dropped:
                said += f"; dropped, not in the config: {', '.join(store.dropped)}"
            self.kept = f"kept from {self.options.overrides}: {said}"
        self.loop = Reconciler(self.config, lag, usage, self.cluster, bus=self.bus, store=store)
        self._tasks.append(asyncio.create_task(self._publish(), name="workload"))
        self._tasks.append(asyncio.create_task(self._watch_events(), name="scale events"))
        if self.server is not None:
            keeper = keep_running(self.server, self._tell)
            self._tasks.append(asyncio.create_task(keeper, name="nats-server"))

    async def _connect(self, url: str) -> Client:
        """A client that reconnects for ever once connected; a server not there within
        CONNECT_WAIT_S is one line (StartError), not a demo that retries for ever before it
        has started. Cancelled (a stop signal while connecting), it closes the client."""
        client = Client()
        settings: dict[str, Any] = {  # (nats.py types these seconds as int; they are floats)
            "connect_timeout": min(CONNECT_WAIT_S, 2.0),
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.2,
            "error_cb": self._nats_error,
            "disconnected_cb": self._disconnected,
            "reconnected_cb": self._reconnected,
        }
        # With max_reconnect_attempts -1, nats.py retries the first connection for ever too.
        first = self._first = FirstAttempts()
        connecting = asyncio.create_task(client.connect(url, **settings), name="connect")
        try:
            await asyncio.wait(
                {connecting, first.connection_refused},
                timeout=CONNECT_WAIT_S,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            # The deadline passed, or a stop cancelled this task: no retry may go on.
            await cancel_until_done(connecting)  # (at once if it has ended)
            if connecting.cancelled() or connecting.exception() is not None:
                with contextlib.suppress(Exception):
                    await client.close()
        unreached = f"cannot reach NATS at {redacted(url)}"
        if connecting.cancelled():  # refused, or still retrying at the deadline
            raise StartError(f"{unreached}: {first.reason(CONNECT_WAIT_S)}")
        failure = connecting.exception()
        if failure is None:
            return client
        if isinstance(failure, nats.errors.Error | OSError | TimeoutError):
            raise StartError(f"{unreached}: {unreached_reason(failure, CONNECT_WAIT_S)}")
        raise failure

    def _tell(self, line: str) -> None:
        self._log(line)
        self._notice(line)

    async def run_loop(self, stop: asyncio.Event) -> None:
        assert self.loop is not None
        await self.loop.run(stop)

    async def _nats_error(self, exc: Exception) -> None:
        if self.nc is None:  # not yet connected: _connect says why in its one line, on stderr
            if self._first is not None:
                self._first.saw(exc)
            return
        # Once per kind: while NATS is down, every reconnect attempt fails the same way.
        kind = type(exc).__name__
        if kind not in self._nats_errors:
            self._nats_errors.add(kind)
            self._log(f"NATS: {kind}: {exc}".rstrip(": "))

    async def _disconnected(self) -> None:
        self._connected.clear()
        if self.nc is not None and not self.nc.is_closed:  # not the demo's own close at stop
            self._log("NATS disconnected: reconnecting; queued tasks wait in JetStream")

    async def _reconnected(self) -> None:
        self._connected.set()
        self._log("NATS reconnected")

    async def _publish(self) -> None:
        assert self.nc is not None
        js = self.nc.jetstream()
        start = time.monotonic()
        cycles = None if self.options.duration is None else 1
        cycle_s = 60.0 if self.options.duration is None else self.options.duration
        for n, task in enumerate(tasks(self.config, self.options.seed, cycle_s, cycles), 1):
            delay = task.at / self.options.speed - (time.monotonic() - start)
            if delay > 0:
                await asyncio.sleep(delay)  # the workload's own schedule, not a test wait
            await self._send(js, task)
            if n % FORGET_EVERY == 0:
                self.forget_done()
        self.workload_done.set()

    def forget_done(self) -> None:
        """Count the tasks published and done, and let their keys go: the dashboard demo runs
        until quit, and kept every task's key (4-5 MB an hour). A done task was acked, so
        JetStream holds it no more and no worker takes it again."""
        done = self.published & self.ledger.completed
        self.published -= done
        self.sent -= done
        self.ledger.completed -= done
        self.ledger.unconfirmed -= done
        self.forgotten += len(done)

    async def _send(self, js: Any, task: Task) -> None:
        key = f"{self.run_id}.{task.id}"
        self.sent.add(key)
        while True:
            try:
                # The message id makes the retry safe: if the first try was stored but its
                # confirmation was lost, JetStream drops the second as a duplicate.
                await js.publish(
                    self.config.subject(task.pool), task.payload(), headers={MSG_ID: key}
                )
                self.published.add(key)
                return
            except (nats.errors.Error, TimeoutError):
                await asyncio.sleep(RETRY_PAUSE_S)  # NATS is reconnecting: the task waits

    async def _watch_events(self) -> None:
        while True:
            self._take(await self._events.get())

    def drain_events(self) -> None:
        """Fold the scale events not yet taken into the summary (and hand each to on_scale)."""
        while not self._events.empty():
            self._take(self._events.get_nowait())

    def _take(self, event: object) -> None:
        if isinstance(event, ScaleEvent) and not event.dry_run:
            self.summary.scale_events += 1
            peak = self.summary.peak_replicas
            peak[event.pool] = max(peak[event.pool], event.new)
            if self._on_scale is not None:
                self._on_scale(event)

    def settled(self) -> bool:
        """Every task the workload published is done (or acked, unconfirmed)."""
        return not self.published - self.ledger.completed - self.ledger.unconfirmed

    async def queued(self) -> int | None:
        """Tasks still in JetStream, waiting or in a worker's hands, over every pool, less
        the messages found not to be demo tasks (handed back, never taken: someone's); None
        if NATS cannot say (down or stalled). A drain waited for those, its whole
        DRAIN_TIMEOUT_S, and then said "queues not empty" with no task of its own left."""
        if self.nc is None or not self.nc.is_connected:
            return None
        js = self.nc.jetstream(timeout=READ_TIMEOUT_S)
        queues = [pool.queue for pool in self.config.pools.values()]
        try:
            infos = await asyncio.gather(*(js.consumer_info(q.stream, q.consumer) for q in queues))
        except (nats.errors.Error, TimeoutError):
            return None
        queued = sum((i.num_pending or 0) + (i.num_ack_pending or 0) for i in infos)
        return max(0, queued - len(self.ledger.foreign))

    async def stop(self) -> Summary:
        # Until each has ended: a cancel that lands as one of nats.py's waits completes is
        # lost (cancelling.py), and the workload then published on, its stop awaited for ever
        # (1 quit in about 35 hung until the exit watchdog's exit 1).
        await asyncio.gather(*(cancel_until_done(task) for task in self._tasks))
        # Side by side, so that with NATS down the stop takes the longer of the two waits
        # (a worker's ack retries, the wait for NATS to come back), not both one after the
        # other, past a dashboard's exit grace. Reading while the workers stop counts every
        # task all the same: one acked meanwhile is in the ledger, done or unconfirmed.
        left = keys_left(self.nc, self._connected, self.config)
        _, (queued, unread) = await asyncio.gather(self._close_cluster(), left)
        self.drain_events()
        summary = self.summary
        summary.queue_unread = unread
        # A task whose publish was never confirmed is the run's all the same if it was seen.
        seen = self.ledger.completed | self.ledger.unconfirmed | (queued or set())
        mine = self.published | (self.sent & seen)
        account(summary, mine, self.ledger.completed, self.ledger.unconfirmed, queued)
        summary.published += self.forgotten
        summary.completed += self.forgotten
        summary.redelivered = self.ledger.redelivered
        summary.rejected = len(self.ledger.foreign)
        if self.nc is not None:
            # While NATS is down, nats.py's close tries to flush what it buffered to a
            # connection that is gone (ConnectionResetError): there is nothing left to save.
            with contextlib.suppress(nats.errors.Error, OSError, TimeoutError):
                await asyncio.wait_for(self.nc.close(), timeout=CLOSE_WAIT_S)
        if self.server is not None:
            self.server.close()
        return summary

    async def _close_cluster(self) -> None:
        if self.cluster is not None:
            await self.cluster.close()  # workers finish or nak what they hold


ROUTES = ("subjects:", "filter_subject:")
"""What of a stream or consumer that exists already, left as it is, would keep the demo's
tasks from its workers: its publishes would find no stream, and be retried for ever."""


def _check_routes(checks: list[QueueCheck], url: str) -> None:
    for check in checks:
        for detail in check.details:
            if check.state == "differs" and detail.startswith(ROUTES):
                raise StartError(
                    f"JetStream at {redacted(url)}: {check.spec.label} exists and differs "
                    f"({detail}); agentdash queues --apply says what, or use another server"
                )


def load_demo_config(path: Path | None) -> Config:
    from agentdash.example import EXAMPLE_CONFIG
    from controller.core.config import load_config

    return load_config(path or EXAMPLE_CONFIG)
