"""`agentdash --controller-only --config FILE`: the controller with no screen.

JSON lines on stdout (start and stop, every replica change with its reasons, source health,
leadership, operator actions, errors, and log records from `--log-level` up); `/metrics`,
`/healthz` (ready: sources and cluster answered, and a valid leader holds the lease) and
`/livez` on `--http`. SIGTERM, SIGINT or SIGHUP (the session that started it closed): the tick
in flight finishes, the lease is released so another takes over at once, and the process exits
0; so it does at the first JSON line it cannot write (stdout's reader gone; a full disk exits
1). A reader that stops reading stops nothing: the lines are written by a thread, and those
it has no room for are dropped and counted (agentdash.line_writer). No signal reloads the
config: restart the daemon (a follower takes over meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Callable

from aiohttp import web

from agentdash import standard_output
from agentdash.cancelling import cancel_until_done
from agentdash.errors import StartError
from agentdash.http_endpoint import DEFAULT_LIMITS, HttpEndpoint, HttpLimits, listen_guarded
from agentdash.line_writer import DroppedLinesCollector, LineWriter, writing
from agentdash.opening import RuntimeOptions
from agentdash.runtime import Runtime, emit, start
from agentdash.socket_errors import os_reason
from controller.actuators.kubernetes import DeploymentScaler
from controller.actuators.kubernetes.fleet_budget import ApiBudget
from controller.core.config import Config, ConfigError
from controller.core.printable import loggable_tree
from controller.runtime.metrics import CONTENT_TYPE

METRICS_EVERY_S = 1.0
"""/metrics is rendered at most this often; the scrapes in between get the last answer.
Rendering takes the loop's own time (90 ms at 2,000 pools): twenty clients scraping in a loop
took all of it, no tick ran for 20 s and the leader lost its lease. Prometheus scrapes every
15 s or so: a second-old answer is the one it would have had."""
STALE_SHOWN = 50
"""/healthz names at most this many stale pools (and counts them all)."""
GC_THRESHOLD = 100_000
"""Allocations between two collections of the youngest generation (CPython's default: 700).
A tick builds a few objects a pool that live until the next tick: at 700, an idle tick of
10,000 pools ran 130 young collections, and what they promoted set off a full collection
every other tick, 150 ms a tick in all, a third of the daemon's CPU (benchmarks/
daemon_idle.py). Reference counting frees garbage as before; only cycles wait longer."""


class JsonLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        emit(
            {
                "type": "log",
                "ts": round(record.created, 3),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


def parse_listen(value: str) -> tuple[str | None, int]:
    """`:9090`, `0.0.0.0:9090`, `[::1]:9090` or `9090` -> (host, port); else ValueError. No
    host is every address of both families (None): it was 0.0.0.0, where on an IPv6-only or
    IPv6-first cluster neither the kubelet's probes nor Prometheus found the daemon."""
    host, _, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")  # an IPv6 address in brackets
    if (
        not (port.isascii() and port.isdigit())
        or not 1 <= int(port) <= 65535
        or any(c.isspace() for c in host)
    ):
        raise ValueError(f"expected [HOST]:PORT with PORT from 1 to 65535, got {value!r}")
    return host or None, int(port)


class RenderedMetrics:
    """`render`'s answer, rendered again only once `every` seconds have passed."""

    def __init__(
        self, render: Callable[[], bytes], every: float, clock: Callable[[], float]
    ) -> None:
        self.render = render
        self.every = every
        self.clock = clock
        self.body = b""
        self.rendered_at: float | None = None

    def __call__(self) -> bytes:
        now = self.clock()
        if self.rendered_at is None or now - self.rendered_at >= self.every:
            self.body = self.render()
            self.rendered_at = now
        return self.body


async def serve_http(
    runtime: Runtime,
    listen: str,
    limits: HttpLimits = DEFAULT_LIMITS,
    budget: ApiBudget | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> HttpEndpoint:
    rendered = RenderedMetrics(runtime.metrics.render, METRICS_EVERY_S, clock)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=rendered(), headers={"Content-Type": CONTENT_TYPE})

    async def healthz(_: web.Request) -> web.Response:
        loop = runtime.loop
        stale = dict(sorted(loop.stale.items())[:STALE_SHOWN])
        body = {
            "ready": runtime.ready,
            "role": role(loop.leading, loop.leader),
            "leader": loop.leader,
            "broken_lease": broken_lease(runtime),
            "api_budget": None if budget is None else budget.as_dict(),
            "problems": loop.problems,
            "stale_pools": stale,
            "stale_count": len(loop.stale),
            "refused": refused_rights(runtime),
            "ticks": runtime.ticks,
        }
        # What NATS and Kubernetes said, printable: `curl ... | jq -r` prints it to a terminal.
        return web.json_response(loggable_tree(body), status=200 if runtime.ready else 503)

    async def livez(_: web.Request) -> web.Response:
        return web.json_response({"alive": True, "ticks": runtime.ticks})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    host, port = parse_listen(listen)
    try:
        return await listen_guarded(app, host, port, limits, runtime.metrics.bad)
    except OSError as exc:  # in use, not ours to bind, or no such host: the user's to fix
        where = "--http (or AGENTDASH_HTTP)"  # either may have given it
        raise ConfigError(where, "", f"cannot listen on {listen}: {os_reason(exc)}") from None


def refused_rights(runtime: Runtime) -> dict[str, str]:
    """Each Kubernetes right the API server refuses this process, with its words, whether or
    not it holds a pool (`create events`: scales go on, unexplained on the Deployment)."""
    actuator = runtime.loop.actuator
    return dict(actuator.api.refusals.refused) if isinstance(actuator, DeploymentScaler) else {}


def broken_lease(runtime: Runtime) -> dict[str, object] | None:
    """The lease's entry while it names no holder (its value escaped): never a leader."""
    broken = runtime.lease.broken
    return None if broken is None else {"revision": broken.revision, "value": broken.value}


def api_budget(config: Config, options: RuntimeOptions) -> ApiBudget | None:
    """What the fleet asks of the Kubernetes API against the client's budget (None on a
    simulated cluster)."""
    return ApiBudget.of(config) if options.cluster == "kubernetes" else None


def role(leading: bool, leader: str | None) -> str:
    """/healthz's role: leader; follower (another leads); candidate (no leader is known: none
    leads, or the lease cannot be read, as while NATS is away)."""
    if leading:
        return "leader"
    return "follower" if leader is not None else "candidate"


async def start_unless_stopped(
    config: Config, options: RuntimeOptions, stop: asyncio.Event
) -> Runtime | None:
    """The runtime started, or None if `stop` was set first. A signal while NATS did not
    answer went unheard: the daemon connected on to its deadline and exited 1, 'cannot reach
    NATS', and a start that takes longer (a slow API server's) ran into the kubelet's SIGKILL."""
    starting = asyncio.create_task(start(config, options), name="start")
    stopped = asyncio.create_task(stop.wait(), name="stop")
    await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    await cancel_until_done(starting)  # (at once if it has ended)
    if starting.cancelled():
        return None
    try:
        return starting.result()  # started all the same: the loop sees `stop` and ends
    except StartError as exc:
        emit({"type": "error", "ts": round(time.time(), 3), "message": str(exc)})
        raise


async def run_until_stopped(runtime: Runtime, stop: asyncio.Event) -> None:
    """The loop until `stop` is set, or until one of the runtime's own tasks ends, which it
    should not: the relay that writes the JSON lines and feeds /metrics died of a closed
    stdout, unsaid, and the daemon led on for good with /healthz 200, its metrics and ticks
    frozen and nothing logged. Then the tick in flight finishes and what ended it is raised,
    so that the daemon stops in order (the lease given up) and says why."""
    ticking = asyncio.create_task(runtime.loop.run(stop), name="loop")
    done, _ = await asyncio.wait({ticking, *runtime.tasks}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    await ticking  # returns once the tick in flight has finished
    for task in done - {ticking}:
        task.result()  # raises what ended it
        raise RuntimeError(f"the {task.get_name()} task ended")


async def _raised(failed: asyncio.Future[None]) -> None:
    """Ends with what a write of the JSON lines failed with, once one fails."""
    await failed


OURS = "agentdash"
"""The logger (every module's is under it) that --log-level debug opens up; other libraries'
stay at info, since their debug output is a flood (the Kubernetes client's holds whole API
answers)."""


def set_log_level(level: str) -> None:
    """JSON log records on stdout from `level` up (`debug`, `info`, `warning`, `error`)."""
    number = logging.getLevelNamesMapping()[level.upper()]
    logging.basicConfig(level=max(number, logging.INFO), handlers=[JsonLogHandler()], force=True)
    logging.getLogger(OURS).setLevel(number)


async def run_daemon(
    config: Config, options: RuntimeOptions, listen: str | None, log_level: str = "info"
) -> int:
    """The daemon, its JSON lines written by a thread of their own: a failed write (the
    reader gone, a full disk) ends the daemon as a line written from the loop did."""
    loop = asyncio.get_running_loop()
    failed: asyncio.Future[None] = loop.create_future()

    def fail(exc: BaseException) -> None:  # from the writer's thread
        with contextlib.suppress(RuntimeError):  # the loop has ended: the stop is under way
            loop.call_soon_threadsafe(_set_failure, failed, exc)

    with writing(LineWriter(standard_output.unbuffered(), on_failure=fail)) as writer:
        return await _run_daemon(config, options, listen, log_level, writer, failed)


def _set_failure(failed: asyncio.Future[None], exc: BaseException) -> None:
    if not failed.done():
        failed.set_exception(exc)


async def _run_daemon(
    config: Config,
    options: RuntimeOptions,
    listen: str | None,
    log_level: str,
    writer: LineWriter,
    failed: asyncio.Future[None],
) -> int:
    set_log_level(log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    runtime = await start_unless_stopped(config, options, stop)
    if runtime is None:
        return 0  # stopped while starting: nothing began, nothing to give back
    gc.freeze()  # what start-up built lives for good: keep it out of every collection
    gc.set_threshold(GC_THRESHOLD)
    runtime.metrics.registry.register(DroppedLinesCollector(writer))
    runtime.tasks.append(asyncio.create_task(_raised(failed), name="stdout"))
    endpoint: HttpEndpoint | None = None
    started = False  # a daemon that never said "start" (--http refused) says no "stop" either
    try:
        budget = api_budget(config, options)
        if listen:
            endpoint = await serve_http(runtime, listen, budget=budget)
        overrides = runtime.loop.overrides  # the shared ones, as read from NATS KV at start
        emit(
            {
                "type": "start",
                "ts": round(time.time(), 3),
                "pools": len(config.pools),
                "holder": runtime.lease.holder,
                "http": listen,
                "dry_run": options.dry_run or overrides.dry_run,
                "paused": overrides.paused,
                "api_budget": None if budget is None else budget.as_dict(),
            }
        )
        started = True
        if budget is not None and not budget.fits:
            logging.getLogger(OURS).warning(
                "the fleet outgrows the API budget: %s", budget.describe()
            )
        await run_until_stopped(runtime, stop)
    except (BrokenPipeError, standard_output.OutputError):
        # The record cannot be written (its reader gone, a full disk): the stop goes on
        # unsaid, so that its own lines do not fail again before the lease is released.
        standard_output.discard()
        raise
    finally:
        if endpoint is not None:
            await endpoint.close()
        await runtime.stop()
        if started:
            emit({"type": "stop", "ts": round(time.time(), 3)})
    return 0
