"""`agentdash demo`: start the embedded fleet and watch it scale.

    agentdash demo                                     live, until Ctrl-C
    agentdash demo --headless --duration 60 --events out.jsonl [--drain]

It writes one JSON object per line to --events, headless or not: each scale event, then a
summary (published, completed, unconfirmed, lost, redelivered, peak replicas, scale events).
Each run starts with no pin or pause unless --overrides FILE keeps them, and then says so. Exit 0 on
SIGINT, SIGTERM or SIGHUP too (a closed SSH session), and no nats-server is left behind.
--drain waits, through NATS outages, until every queue is empty, for at most DRAIN_TIMEOUT_S.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from agentdash import flags
from agentdash.errors import StartError
from agentdash.output_files import LinesFile, check_distinct, check_writable
from agentdash.terminal import need_a_terminal
from controller.core.events import ScaleEvent
from controller.core.printable import loggable
from controller.core.wording import plural

if TYPE_CHECKING:  # the fleet (NATS and all) is imported when the demo runs, not to parse
    from agentdash.demo.fleet import DemoFleet, DemoOptions
    from agentdash.demo.tally import Summary
    from agentdash.tui.app import AgentDashApp
    from agentdash.tui.feed import Feed
    from controller.core.config import Config

POLL_S = 0.2
DRAIN_TIMEOUT_S = 300.0
"""How long --drain waits for the queues to empty (demo time: --speed shortens it)."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
KEPT_SHOWN_S = 30.0
"""How long the dashboard shows what --overrides kept from an earlier run."""
LOGGER = "agentdash"
"""The logger every module's is under: daemon.OURS (not imported from there, which would load
the Kubernetes client with it)."""
NOTICE_SHOWN_S = 30.0
"""How long the dashboard shows what happened to the demo's nats-server."""


def add_parser(commands: Any) -> None:
    demo: argparse.ArgumentParser = commands.add_parser(
        "demo", help="run an embedded fleet (NATS, simulated cluster, workload) and watch it"
    )
    demo.add_argument("--headless", action="store_true", help="no screen: log lines and --events")
    demo.add_argument(
        "--duration",
        type=flags.number(0, 7 * 86400, above=True),
        metavar="S",
        help="seconds of workload (headless default 60; the dashboard repeats it until you quit)",
    )
    demo.add_argument(
        "--events", type=flags.output_path, metavar="FILE", help="write events as JSON lines"
    )
    demo.add_argument(
        "--drain", action="store_true", help="after the workload, run until every queue is empty"
    )
    demo.add_argument(
        "--seed", type=flags.whole(0, flags.MAX_SEED), default=7, help="workload seed (default 7)"
    )
    demo.add_argument(
        "--nats-url",
        type=flags.nats_url,
        metavar="URL",
        help="use this NATS server, not an embedded one",
    )
    demo.add_argument(
        "--config",
        type=flags.path,
        metavar="FILE",
        help="fleet config (default: the bundled examples/agentdash.yaml)",
    )
    demo.add_argument(
        "--read-only", action="store_true", help="dashboard without actions (not with --headless)"
    )
    demo.add_argument(
        "--overrides",
        type=flags.output_path,
        metavar="FILE",
        help="keep pins and pauses in FILE, from one run to the next (default: each run"
        " starts clean)",
    )
    demo.add_argument(
        # (at most 100 times slower: JetStream refused the ack wait 1e-9 made of it)
        "--speed",
        type=flags.number(0.01, 1000),
        default=1.0,
        help=argparse.SUPPRESS,
    )
    demo.add_argument(
        "--cold-start",
        type=flags.number(0, 3600),
        metavar="S",
        help="override every pool's cold start, in seconds",
    )
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from agentdash.demo.fleet import DemoOptions, load_demo_config

    if args.headless and args.read_only:
        said = "demo --headless has no dashboard: --read-only would be ignored"
        print(f"agentdash: {said}", file=sys.stderr)
        return 2
    if not args.headless:
        need_a_terminal("for the demo without a screen, agentdash demo --headless")
    config = load_demo_config(args.config)
    _check_files(config, args.config, args.events, args.overrides)
    duration = args.duration if args.duration is not None else (60.0 if args.headless else None)
    options = DemoOptions(
        config,
        args.seed,
        duration,
        args.drain,
        args.nats_url,
        args.speed,
        args.cold_start,
        args.overrides,
    )
    with contextlib.ExitStack() as files:
        sink = files.enter_context(LinesFile(args.events)) if args.events else None
        if not args.headless:
            return dashboard(options, read_only=args.read_only, sink=sink)
        summary = asyncio.run(headless(options, sink, sys.stdout))
    return 0 if summary.lost == 0 else 1


def _check_files(
    config: Config, config_path: Path | None, events: Path | None, overrides: Path | None
) -> None:
    """Every file the demo writes can be, and --overrides reads, before anything starts: a
    bad one is one line (exit 2), not a traceback once the fleet runs, nor an --events file
    emptied by a run that never started. Each is a file of its own: --events is emptied as
    the run starts, so named after --config or --overrides it would replace that file with
    event lines (the config, read already, with no error at all)."""
    from controller.coordination.overrides import OverrideStore
    from controller.core.config import ConfigError

    for path in (events, overrides):
        if path is not None:
            check_writable(path)
    check_distinct({"--events": events, "--overrides": overrides}, {"--config": config_path})
    if overrides is not None and overrides.exists() and not overrides.is_file():
        # a pipe or a device: read here, then empty when the fleet reads it again; and a
        # pin would replace it (/dev/null, as root) with a file
        said = "expected a regular file: it is read, then replaced at each pin or pause"
        raise ConfigError(str(overrides), "", said)
    OverrideStore(config, overrides)  # the fleet reads it again as it starts


def dashboard(options: DemoOptions, read_only: bool = False, sink: LinesFile | None = None) -> int:
    """The live demo under the dashboard; quitting (`q`, SIGTERM, a closed terminal) stops
    the fleet and its nats-server. `sink`: --events, as headless writes it (each scale event,
    then the summary)."""
    from agentdash.tui.app import AgentDashApp
    from agentdash.tui.leaving import ExitWatchdog

    demo = _DashboardDemo(options, sink)
    watchdog = ExitWatchdog(before_leaving=demo.leaving)
    app = AgentDashApp(
        connect=demo.connect, on_quit=demo.stop_fleet, read_only=read_only, watchdog=watchdog
    )
    demo.app = app
    try:
        app.run()
    finally:
        demo.close_server()
    if demo.failures:
        raise demo.failures[0]
    for summary in demo.summaries:  # after the screen is restored, so it stays visible
        print(_summary_line(summary))
        if sink is not None:
            sink.write(json.dumps(summary.as_dict()) + "\n")
    return app.return_code or 0  # 1 after an error: Textual has printed what went wrong


class _DashboardDemo:
    """The demo's fleet as the dashboard drives it: started by the app (`connect`), stopped
    when it quits (`stop_fleet`), its failure and summary kept to be said once the screen is
    restored."""

    def __init__(self, options: DemoOptions, sink: LinesFile | None) -> None:
        from agentdash.demo.fleet import DemoFleet

        self.app: AgentDashApp | None = None
        """Where notices go: set before it runs."""
        self.sink = sink
        on_scale = None if sink is None else lambda e: _write(sink, e)
        self.fleet = DemoFleet(options, on_scale=on_scale, notice=self.notice)
        self.stop = asyncio.Event()
        self.runner: list[asyncio.Task[None]] = []
        self.failures: list[StartError] = []
        self.summaries: list[Summary] = []

    def notice(self, line: str) -> None:
        assert self.app is not None
        self.app.notify(loggable(line), severity="warning", timeout=NOTICE_SHOWN_S, markup=False)

    async def connect(self) -> Feed:
        from agentdash.tui.feed import Feed

        fleet = self.fleet
        try:
            await fleet.start()
        except StartError as exc:
            self.failures.append(exc)  # said in one line once the screen is restored, as headless
            raise
        assert fleet.loop is not None
        if fleet.kept is not None:  # an earlier run's pause must not look like a fault
            # The file's path and the names in it are text, never markup (a folder `a[/b]`
            # would stop the dashboard) nor escapes (as the headless demo says them).
            kept = loggable(f"Overrides {fleet.kept}")
            assert self.app is not None
            self.app.notify(kept, severity="warning", timeout=KEPT_SHOWN_S, markup=False)
        feed = Feed(fleet.loop)
        self.runner.append(asyncio.create_task(fleet.run_loop(self.stop)))
        return feed

    async def stop_fleet(self) -> None:
        self.stop.set()
        for task in self.runner:
            await task
        self.summaries.append(await self.fleet.stop())

    def close_server(self) -> None:
        if self.fleet.server is not None:
            self.fleet.server.close()

    def leaving(self) -> None:
        """The process ends now, past what follows app.run (a hangup once the fleet stopped,
        or a stop that stuck): the server goes, and --events still gets the summary."""
        self.close_server()
        if self.sink is not None:
            for summary in self.summaries:
                self.sink.write(json.dumps(summary.as_dict()) + "\n")


async def headless(options: DemoOptions, sink: LinesFile | None, out: IO[str]) -> Summary:
    from agentdash.demo.fleet import DemoFleet

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)

    def write(event: ScaleEvent) -> None:
        _log(event, out)
        if sink is not None:
            _write(sink, event)

    def note(line: str) -> None:
        _say(out, f"{time.strftime('%H:%M:%S')}  {line}")

    fleet = DemoFleet(options, on_scale=write, log=note)
    said = _LinesOf(note)
    ours = logging.getLogger(LOGGER)  # the controller's: a source failing, and recovered
    level = ours.level
    ours.addHandler(said)
    ours.setLevel(logging.INFO)
    ours.propagate = False  # (without this, Python's last resort prints warnings on stderr)
    try:
        if await _unless_stopped(fleet.start(), stop):
            pools = plural(len(options.config.pools), "pool")
            _say(out, f"agentdash demo: {pools} on {_where(fleet)}")
            if fleet.kept is not None:
                note(f"overrides {fleet.kept}")
            await _run(fleet, stop, note)
        summary = await fleet.stop()
        if sink is not None:
            sink.write(json.dumps(summary.as_dict()) + "\n")
        _say(out, _summary_line(summary))
        return summary
    finally:
        ours.removeHandler(said)
        ours.setLevel(level)
        ours.propagate = True
        if fleet.server is not None:
            fleet.server.close()


class _LinesOf(logging.Handler):
    """The controller's log records from info up, said as the demo's own lines."""

    def __init__(self, note: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.note = note

    def emit(self, record: logging.LogRecord) -> None:
        self.note(record.getMessage())


async def _unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Await `work` unless a stop signal comes first, which cancels it. The signal handlers
    only set `stop`, so a start that nothing raced against it kept a signal waiting for as
    long as the start took (nats.py retries a server that is not there). False if stopped;
    `work`'s own error (StartError, ConfigError) is raised as if it had been awaited."""
    task = asyncio.create_task(work)
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            # Once: the start's cleanup (DemoFleet._connect ending its nats.py connection)
            # must not be cut short by a second cancel. A cancel that nats.py drops leaves a
            # start that ends by itself, and then the loop sees `stop` at once.
            task.cancel()
            await asyncio.wait({task})  # (not `await task`: a cancel of this one is not its)
    if task.cancelled():
        return False
    task.result()
    return True


async def _run(fleet: DemoFleet, stop: asyncio.Event, note: Callable[[str], None]) -> None:
    """The controller and the workload until the workload is done (and, with --drain, the
    queues are empty) or a signal sets `stop`."""
    options = fleet.options
    runner = asyncio.create_task(fleet.run_loop(stop))
    drain_until: float | None = None
    while not stop.is_set():
        if fleet.workload_done.is_set():
            if not options.drain or await _drained(fleet):
                break
            drain_until = drain_until or time.monotonic() + DRAIN_TIMEOUT_S / options.speed
            if time.monotonic() > drain_until:
                note(
                    f"drain: queues not empty after {DRAIN_TIMEOUT_S / options.speed:g} s; "
                    f"stopping: {_left_behind(fleet)}"
                )
                break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=POLL_S)
    stop.set()
    await runner


def _left_behind(fleet: DemoFleet) -> str:
    """Where the tasks still queued go when the demo stops. The embedded server's store is a
    temporary directory, removed at exit: they do not stay anywhere."""
    if fleet.server is not None:
        return "the tasks still queued are removed with the embedded nats-server's store"
    return "what is left stays in JetStream"


async def _drained(fleet: DemoFleet) -> bool:
    """Every task done and every queue empty (not while NATS cannot say: it may be down)."""
    return fleet.settled() and await fleet.queued() == 0


def _write(sink: LinesFile, event: ScaleEvent) -> None:
    sink.write(json.dumps(event.as_dict()) + "\n")  # flushed, for whoever follows the file


def _where(fleet: DemoFleet) -> str:
    """Said with the URL's token hidden (`_say`): stdout is often a log. The file named
    holds it, and only this user may read it."""
    server = fleet.server
    if server is None:
        return f"NATS {fleet.options.nats_url}"
    where = f"embedded nats-server {server.url} (pid {server.pid})"
    return f"{where}; the URL with its token is in {server.url_file}"


def _log(event: ScaleEvent, out: IO[str]) -> None:
    clock = time.strftime("%H:%M:%S", time.localtime(event.ts))
    reason = event.reasons[-1] if event.reasons else None
    why = f"{reason.rule}: {reason.detail}" if reason else ""
    _say(out, f"{clock}  {event.pool:<20} {event.old:>3} -> {event.new:<3} {why}")


def _say(out: IO[str], line: str) -> None:
    """Print a line; a terminal that is gone (the SSH session closed) does not stop the demo."""
    with contextlib.suppress(OSError):
        print(loggable(line), file=out, flush=True)


def _summary_line(summary: Summary) -> str:
    queued = "" if summary.queue_read else f" (not checked: {summary.queue_unread})"
    junk = f", not demo tasks (left queued) {summary.rejected}" if summary.rejected else ""
    return (
        f"published {summary.published}, completed {summary.completed}, "
        f"unconfirmed {summary.unconfirmed}, still queued {summary.remaining}{queued}, "
        f"lost {summary.lost}, redelivered {summary.redelivered}, "
        f"scale events {summary.scale_events}{junk}"
    )
