"""The `agentdash` command: one program, several jobs.

    agentdash --config FILE                             the dashboard over a real fleet
    agentdash --controller-only --config FILE           the controller as a daemon
    agentdash demo [--headless ...]                     the embedded demo fleet
    agentdash simulate --config FILE --trace FILE       backtest against KEDA and the HPA
    agentdash tune --config FILE --trace FILE           search behavior, cooldown and keep-alive
    agentdash check-config FILE                         validate and summarise a config
    agentdash check-config --schema                     the config's JSON schema, for editors
    agentdash plan --config FILE --observations FILE    one tick's decisions as JSON
    agentdash example NAME                              a bundled example: config, backtest, ...
    agentdash rbac --config FILE                        the Roles it needs, for kubectl apply

User mistakes (bad config, bad input) print one line and exit 2, never a traceback.
A flag's default may come from the environment (ENVIRONMENT below): what a container sets
once, such as the config's path, need not be repeated; a flag given beats its variable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from agentdash import __version__, flags
from agentdash.errors import StartError
from agentdash.example import EXAMPLE_CONFIG, OBSERVATIONS
from agentdash.fleet_flags import FLEET_FLAGS, add_fleet_arguments, ignored_fleet_flag, log_level
from controller.coordination import lease_ttl
from controller.core.config import Config, ConfigError, check_files, load_config, unreadable_files
from controller.core.printable import loggable

if TYPE_CHECKING:
    from agentdash.opening import RuntimeOptions

EXIT_USAGE = 2
ENVIRONMENT: dict[str, tuple[str, Callable[[str], Any]]] = {
    "config": ("AGENTDASH_CONFIG", flags.path),
    "nats_url": ("AGENTDASH_NATS_URL", flags.nats_url),
    "http": ("AGENTDASH_HTTP", flags.listen),
    "lease_ttl": ("AGENTDASH_LEASE_TTL", flags.number(lease_ttl.MIN_S, lease_ttl.MAX_S)),
    "context": ("AGENTDASH_KUBECONTEXT", flags.name),
    "log_level": ("AGENTDASH_LOG_LEVEL", log_level),
}
"""A flag's destination -> the variable that gives its default, checked as the flag is."""
DEFAULTS: dict[str, Any] = {"lease_ttl": 10.0, "log_level": "info"}
"""Defaults for when neither the flag nor its variable is given."""


def _check_config(args: argparse.Namespace) -> int:
    if args.schema:
        from agentdash.config_schema import config_schema

        json.dump(config_schema(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    from agentdash.nats_identity import identity_problems
    from agentdash.secret_files import warn_open_secret_files
    from agentdash.shared_streams import warn_shared_streams
    from agentdash.summary import summarize

    config = load_config(args.file)
    for path, why in identity_problems(config.nats).items():  # readable here, and wrong
        raise ConfigError(config.source, path, why)
    print(summarize(config, str(args.file)))
    for path, problem in unreadable_files(config).items():  # may be mounted only in the pod
        print(loggable(f"note: {path}: {problem} here; the controller will not start without it"))
    warn_open_secret_files(config)
    warn_shared_streams(config)
    return 0


def _plan(args: argparse.Namespace) -> int:
    from controller.core.policy import decide
    from controller.sources.observations_file import load_observations

    if args.config is not None and args.observations is None:
        print("agentdash: plan --config FILE needs --observations FILE", file=sys.stderr)
        return EXIT_USAGE  # the bundled observations are of the bundled fleet
    config = load_config(args.config or EXAMPLE_CONFIG)
    given = load_observations(args.observations or OBSERVATIONS, config)
    decisions = decide(config, given.observations, given.overrides, given.history, given.now)
    json.dump({"decisions": [d.as_dict() for d in decisions]}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = flags.OneLineParser(
        prog="agentdash",
        description="Autoscale AI-agent worker fleets from queue lag, token budgets and "
        "tier priorities, and see why.",
    )
    parser.add_argument("--version", action="version", version=f"agentdash {__version__}")
    add_fleet_arguments(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_config_commands(commands)

    from agentdash import example, keda, queues, rbac, simulate, trace_import, tune
    from agentdash.demo import command as demo

    demo.add_parser(commands)
    simulate.add_parser(commands)
    tune.add_parser(commands)
    example.add_parser(commands)
    imports = commands.add_parser(
        "import", help="turn another autoscaler's objects, or an LLM request log, into agentdash's"
    )
    sources = imports.add_subparsers(dest="source", metavar="SOURCE", required=True)
    keda.add_parser(sources)  # `agentdash import keda FILE...`
    trace_import.add_parser(sources)  # `agentdash import requests FILE --pool NAME`
    queues.add_parser(commands)
    rbac.add_parser(commands)
    return parser


def _add_config_commands(commands: Any) -> None:
    """`agentdash check-config` and `agentdash plan`: a config read, and one tick decided."""
    check = commands.add_parser("check-config", help="validate a config file and summarise it")
    check.add_argument(
        "file",
        type=flags.path,
        nargs="?",
        metavar="FILE",
        help="agentdash.yaml (env AGENTDASH_CONFIG)",
    )
    check.add_argument(
        "--config",
        dest="config_file",
        type=flags.path,
        metavar="FILE",
        help="the same as FILE (as the other commands take it)",
    )
    check.add_argument(
        "--schema",
        action="store_true",
        help="print the config's JSON schema instead (for editors: yaml-language-server)",
    )
    check.set_defaults(run=_check_config)

    plan = commands.add_parser("plan", help="print one tick's scale decisions as JSON")
    plan.add_argument(
        "--config",
        type=flags.path,
        metavar="FILE",
        help="agentdash.yaml (default: the bundled example)",
    )
    plan.add_argument(
        "--observations",
        type=flags.path,
        metavar="FILE",
        # The bundled readings are of the bundled fleet's pools, so with a config of one's
        # own they must be given (_plan): the help says so rather than promise a default.
        help="the pools' readings, JSON (default with no --config: the bundled example's; "
        "needed with --config)",
    )
    plan.set_defaults(run=_plan)


def main(argv: Sequence[str] | None = None) -> int:
    from agentdash import standard_output

    with standard_output.errors_told():
        try:
            try:
                return _command(argv)
            finally:  # what is still buffered fails here, not in Python's flush at exit
                sys.stdout.flush()
        except BrokenPipeError:  # `agentdash check-config FILE | head`: not an error
            standard_output.discard()
            return 0
        except standard_output.OutputError as exc:  # `agentdash plan > /dev/full`
            standard_output.discard()
            print(f"agentdash: cannot write the output: {exc.strerror}", file=sys.stderr)
            return 1


def _command(argv: Sequence[str] | None) -> int:
    if list(sys.argv[1:] if argv is None else argv)[:1] in (["simulate"], ["tune"]):
        from controller.accel import use_compiled

        use_compiled()  # the backtest's hot path compiled, if `make accel` built it
    parser = build_parser()
    args = parser.parse_args(argv)
    before = " ".join(dict.fromkeys(getattr(args, FLEET_FLAGS, [])))
    if args.command is not None and before:
        parser.error(
            f"{before} before {args.command} would be ignored: the flags before a COMMAND are "
            f"a real fleet's; put {args.command}'s own after it"
        )
    _environment_defaults(parser, args)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None and args.config is not None:
        run = _fleet
    if run is None:
        if before:  # a fleet's flags, and no fleet
            parser.error(
                f"{before} needs --config FILE (or AGENTDASH_CONFIG), the fleet to show or "
                "scale; agentdash demo runs one of its own"
            )
        parser.print_help()
        return EXIT_USAGE
    try:
        return run(args)
    except ConfigError as exc:
        _say_error(exc)
        return EXIT_USAGE
    except StartError as exc:
        _say_error(exc)
        return exc.exit_code


def _say_error(exc: Exception) -> None:
    """The one line a failure is: what NATS, Kubernetes or a file said in it is shown with
    its control characters escaped and its URLs' passwords hidden."""
    print(f"agentdash: {loggable(str(exc))}", file=sys.stderr)


def _environment_defaults(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill in what no flag gave from ENVIRONMENT, then DEFAULTS. Only the fleet's flags,
    check-config's FILE and queues' --nats-url read the environment: a variable meant for the
    daemon neither changes nor breaks `demo` or `simulate`. A bad value is one line naming
    the variable."""
    wanted = ENVIRONMENT if args.command is None else {}
    if args.command == "queues" and not args.nats_config:
        # the NATS the daemon uses, and its identity there: its container, or a shell set up
        # for it, makes the streams it reads
        wanted = {"nats_url": ENVIRONMENT["nats_url"]}
    if args.command == "check-config":
        if args.config_file is not None:
            if args.file is not None:
                parser.error("check-config: give FILE or --config FILE, not both")
            args.file = args.config_file
        if args.schema and args.file is not None:
            parser.error("check-config: give either FILE or --schema, not both")
        wanted = {} if args.schema else {"file": ENVIRONMENT["config"]}
    for dest, (variable, parse) in wanted.items():
        text = os.environ.get(variable, "")
        if getattr(args, dest) is None and text:  # set but empty reads as not set
            try:
                setattr(args, dest, parse(text))
            except (argparse.ArgumentTypeError, ValueError) as exc:
                parser.exit(EXIT_USAGE, f"{parser.prog}: {variable}: {loggable(str(exc))}\n")
    if args.command == "check-config" and args.file is None and not args.schema:
        parser.error("check-config: expected FILE (or AGENTDASH_CONFIG set)")
    for dest, default in DEFAULTS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, default)


def _fleet(args: argparse.Namespace) -> int:
    import asyncio

    from agentdash.opening import RuntimeOptions, check_lease_ttl
    from agentdash.secret_files import warn_open_secret_files
    from agentdash.shared_streams import warn_shared_streams

    if args.controller_only and args.read_only:
        # a read-only process never takes the lease: the daemon would run and never scale
        said = "--controller-only and --read-only: a read-only daemon never leads, so never scales"
        print(f"agentdash: {said} (--dry-run decides and never patches)", file=sys.stderr)
        return EXIT_USAGE
    ignored = ignored_fleet_flag(args)
    if ignored is not None:
        print(f"agentdash: {ignored}", file=sys.stderr)
        return EXIT_USAGE
    config = load_config(args.config)
    if args.lead and args.read_only:
        print(
            "agentdash: --lead and --read-only: a read-only dashboard never leads", file=sys.stderr
        )
        return EXIT_USAGE
    check_files(config)  # credentials and CAs, before connecting to anything
    _check_prometheus_ca(config)
    warn_open_secret_files(config)
    warn_shared_streams(config)
    options = RuntimeOptions(
        args.nats_url,
        args.cluster,
        args.kubeconfig,
        args.context,
        args.dry_run,
        args.lease_ttl,
        lead=args.controller_only or args.lead,
        read_only=args.read_only,
    )
    check_lease_ttl(config, options)
    if args.controller_only:
        from agentdash.daemon import run_daemon

        return asyncio.run(run_daemon(config, options, args.http, args.log_level))
    from agentdash.terminal import need_a_terminal

    need_a_terminal("for the daemon, agentdash --controller-only")
    return _dashboard(config, options, args.read_only)


def _check_prometheus_ca(config: Config) -> None:
    """prometheus.tls.ca_file is PEM, as nats.tls.ca_file must be: one line naming the field
    (exit 2) before anything starts. Else every query failed its certificate check, and the
    daemon ran on with the budgets of tenants whose usage it never learned not applied."""
    import ssl

    file = config.prometheus.tls.ca_file if config.prometheus is not None else None
    if file is None:
        return
    try:
        ssl.create_default_context(cafile=file)
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise ConfigError(
            config.source, "prometheus.tls.ca_file", f"expected PEM in {file}: {reason}"
        ) from None


def _dashboard(config: Config, options: RuntimeOptions, read_only: bool) -> int:
    """The dashboard over a real fleet: it shows what the leader (a daemon) does; it leads
    only with --lead, and a --read-only one never writes anything."""
    import asyncio

    from agentdash.runtime import Runtime, start
    from agentdash.tui.actions import done_text
    from agentdash.tui.app import AgentDashApp
    from agentdash.tui.feed import Feed
    from agentdash.tui.leaving import ExitWatchdog

    stop = asyncio.Event()
    held: list[Runtime] = []
    failures: list[StartError] = []

    async def connect() -> Feed:
        try:
            runtime = await start(config, options)
        except StartError as exc:
            failures.append(exc)  # printed in one line after the app has exited
            raise
        held.append(runtime)
        history = await runtime.follow_history()  # the leader's, before our own first tick
        runtime.tasks.append(asyncio.create_task(runtime.loop.run(stop)))
        return Feed(runtime.loop, history)

    async def quit_() -> None:
        stop.set()
        for runtime in held:
            await runtime.stop()

    app = AgentDashApp(connect=connect, on_quit=quit_, read_only=read_only, watchdog=ExitWatchdog())
    app.run()
    if failures:
        raise failures[0]
    lost = [event for runtime in held for event in runtime.shared.lost]
    for event in lost:  # it was on the screen as done: said where the operator reads it now
        what = done_text(event)
        print(
            f"agentdash: not done, NATS was away until the dashboard stopped: {what}",
            file=sys.stderr,
        )
    return app.return_code or (1 if lost else 0)  # Textual has printed what went wrong
