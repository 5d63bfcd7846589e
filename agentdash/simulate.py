"""`agentdash simulate`: replay a workload in virtual time under agentdash, KEDA and the HPA.

    agentdash simulate [--config FILE] [--trace FILE] [--policy agentdash|keda|hpa|all] [--json]
                       [--plot FILE.svg] [--events FILE] [--start YYYY-MM-DD] [--drain SECONDS]
                       [--keda-... / --hpa-... knobs]
    agentdash simulate --generate bursty|diurnal|spiky --hours H --seed S [--config FILE]
                       [--tasks N] > trace.jsonl

Without --config it runs the bundled example fleet (agentdash/examples/backtest.yaml, the demo's
fleet with production windows), and without --trace too, the bundled 3-hour trace of it.
The work is in controller.simulate; this module reads arguments and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agentdash import flags, standard_input
from agentdash.example import BACKTEST_CONFIG, BACKTEST_TRACE, EXAMPLE_CONFIG
from agentdash.output_files import check_distinct, check_writable, write_text
from controller.core.config import Config, ConfigError, load_config
from controller.simulate.backtest import DRAIN_S, POLICIES, backtest
from controller.simulate.baselines import BaselineSettings
from controller.simulate.generate import MIN_HOURS, SHAPES, generate
from controller.simulate.report import table
from controller.simulate.trace import (
    MAX_TRACE_SECONDS,
    Trace,
    load_trace,
    read_trace,
    write_trace,
)

EXIT_USAGE = 2

STDIN = Path("-")
"""--trace -: the trace read from standard input, as `zcat day.jsonl.gz | agentdash ...`."""


MAX_GENERATED = 10_000_000
"""Tasks --generate makes at most: it builds the trace in memory first (a million took 16 s
and 400 MB on the project's machine), so ten million is minutes and gigabytes already."""


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "simulate",
        help="replay a trace in virtual time and compare with KEDA and the HPA",
        description="Replay a workload trace in virtual time under agentdash, KEDA and the "
        "HPA, and compare waits, cost and thrash; or write a synthetic trace.",
    )
    parser.add_argument(
        "--config",
        type=flags.path,
        metavar="FILE",
        help="agentdash.yaml (default: the bundled example)",
    )
    parser.add_argument(
        "--trace",
        type=flags.input_path,
        metavar="FILE",
        help="JSON lines, one task each; - for standard input (default with no --config: the "
        "bundled example's)",
    )
    # No default: --policy given with --generate is refused (_misplaced); None is "all".
    parser.add_argument(
        "--policy", choices=[*POLICIES, "all"], help="replay under this one only (default all)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--plot", type=_svg, metavar="FILE.svg", help="draw lag and pods (SVG)")
    parser.add_argument(
        "--events",
        type=flags.output_path,
        metavar="FILE",
        help="write agentdash's scale events with their reasons (JSON lines)",
    )
    flags.add_start(parser)
    # No default here either (as --hours below): --drain given with --generate is refused.
    parser.add_argument(
        "--drain",
        type=flags.number(0, MAX_TRACE_SECONDS),
        metavar="SECONDS",
        help=f"keep simulating this long after the last arrival (default {DRAIN_S:g})",
    )
    _add_generate(parser)
    _add_baselines(parser)
    parser.set_defaults(run=_run)


def _add_generate(parser: argparse.ArgumentParser) -> None:
    """The flags that write a synthetic trace instead of replaying one."""
    made = parser.add_argument_group("synthetic traces (printed on stdout)")
    made.add_argument(
        "--generate",
        choices=SHAPES,
        metavar="|".join(SHAPES),
        help="print a trace of this shape for the config's pools instead of replaying one: "
        "bursts of tasks, a daily cycle, or a trickle with rare spikes",
    )
    # No defaults here: one of these given without --generate is refused (_misplaced), so
    # None must say "not given"; _generate fills in the defaults the help names.
    made.add_argument(
        "--hours",
        type=flags.number(MIN_HOURS, MAX_TRACE_SECONDS / 3600),
        help="the trace's length (default 4)",
    )
    made.add_argument(
        "--seed",
        type=flags.whole(0, flags.MAX_SEED),
        help="another seed draws another trace (default 1)",
    )
    made.add_argument(
        "--tasks",
        type=flags.whole(1, MAX_GENERATED),  # none would print nothing and say nothing
        metavar="N",
        help=f"about this many tasks in all (at most {MAX_GENERATED:,})",
    )


def _add_baselines(parser: argparse.ArgumentParser) -> None:
    """A flag for each knob of the KEDA and HPA baselines (BaselineSettings)."""
    knobs = parser.add_argument_group("baselines (defaults: KEDA's and the HPA's own)")
    for knob in BaselineSettings.knobs():
        # 0 would never tick; a tick period has a least of its own (at least 1 s)
        periodic = knob.name.endswith(("_interval", "_period")) and not knob.least
        most = MAX_TRACE_SECONDS if knob.most is None else knob.most
        knobs.add_argument(
            _flag(knob.name),
            dest=knob.name,
            type=(
                flags.whole(int(knob.least), int(most))
                if knob.whole
                else flags.number(knob.least, most, above=periodic)
            ),
            metavar="X",  # no default: one given for a baseline not run is refused
            help=f"{knob.help} (default {knob.default:g})",
        )


def replayed(config: Config, start: float | None) -> Config:
    """The config as the replay reads it: on the --start date's calendar, if given."""
    return config if start is None else config.replayed_from(start)


def _run(args: argparse.Namespace) -> int:
    misplaced = _misplaced(args)
    if misplaced is not None:
        print(f"agentdash: simulate {misplaced}", file=sys.stderr)
        return EXIT_USAGE
    if args.generate:
        return _generate(args)
    if args.config is not None and args.trace is None:
        print(
            "agentdash: simulate --config FILE needs --trace FILE "
            "(or --generate SHAPE to write a trace)",
            file=sys.stderr,
        )
        return EXIT_USAGE  # the bundled trace is of the bundled fleet
    policies = POLICIES if args.policy in (None, "all") else (args.policy,)
    unused = _unused(args, policies)
    if unused is not None:
        print(f"agentdash: simulate {unused}", file=sys.stderr)
        return EXIT_USAGE
    for path in (args.plot, args.events):
        if path is not None:
            check_writable(path)  # before the replay, not after it
    trace_path = args.trace or BACKTEST_TRACE
    config_path = args.config or BACKTEST_CONFIG
    check_distinct(
        {"--plot": args.plot, "--events": args.events},
        {"--config": config_path, "--trace": trace_path},
    )
    config = replayed(load_config(config_path), args.start)
    try:
        trace = load_tasks(trace_path, config)
    except ConfigError as exc:
        if args.config is not None or not exc.path.endswith("pool"):
            raise
        bundled = f"{exc.message} (with no --config, the bundled example's: give your own)"
        raise ConfigError(exc.source, exc.path, bundled, exc.line) from None
    settings = BaselineSettings(**{name: getattr(args, name) for name in _knobs_given(args)})
    explain = args.events is not None
    drain = DRAIN_S if args.drain is None else args.drain
    result = backtest(config, trace, policies, settings, drain_s=drain, explain=explain)
    summary = result.as_dict()
    if args.plot is not None:
        from controller.simulate.plot import svg

        write_text(args.plot, svg(result, f"agentdash simulate: {trace_path.name}"))
    if args.events is not None:
        events = next(run.events for run in result.runs if run.name == "agentdash")
        write_text(args.events, "".join(json.dumps(e.as_dict()) + "\n" for e in events))
    print(json.dumps(summary, indent=2) if args.json else table(summary, _shown(trace_path)))
    return 0


def load_tasks(path: Path, config: Config) -> Trace:
    """The trace at `path`, refused if it has no task: a replay of nothing compares nothing
    (`simulate` printed a table of zeros, `tune` had nothing to search)."""
    trace = _read_stdin(config) if path == STDIN else load_trace(path, config)
    if not len(trace):
        raise ConfigError(_shown(path), "", "expected at least one task, got none")
    return trace


def _read_stdin(config: Config) -> Trace:
    """The trace piped in."""
    stream = standard_input.piped("a trace", "--trace -")
    try:
        return read_trace(stream, config, "standard input")
    except OSError as exc:
        raise ConfigError("standard input", "", f"cannot read: {exc.strerror or exc}") from None


def _misplaced(args: argparse.Namespace) -> str | None:
    """A flag the chosen mode would ignore, said rather than dropped: --generate writes a
    trace and replays none, and a replay reads its trace as it is."""
    if args.generate:
        replay = {
            "--trace FILE": args.trace,
            "--policy": args.policy,
            "--plot FILE.svg": args.plot,
            "--events FILE": args.events,
            "--json": args.json,
            "--start": args.start is not None,
            "--drain": args.drain is not None,
            **{_flag(name): True for name in _knobs_given(args)},
        }
        given = [name for name, value in replay.items() if value]
        if given:
            return f"--generate SHAPE writes a trace and replays none: {given[0]} would be ignored"
        return None
    made = {"--hours": args.hours, "--seed": args.seed, "--tasks": args.tasks}
    given = [name for name, value in made.items() if value is not None]
    if given:
        return f"{given[0]} needs --generate SHAPE: a trace replayed is read as it is"
    return None


def _unused(args: argparse.Namespace, policies: tuple[str, ...]) -> str | None:
    """A flag for a policy the replay leaves out, said rather than dropped: --events is
    agentdash's, a --keda-... knob the keda baseline's, and a --hpa-... knob the HPA's, which
    the keda baseline runs too (KEDA scales through an HPA)."""
    if args.events is not None and "agentdash" not in policies:
        return f"--events FILE writes agentdash's scale events: --policy {args.policy} runs none"
    for name in _knobs_given(args):
        if name.startswith("keda_") and "keda" not in policies:
            return f"{_flag(name)} sets the keda baseline: --policy {args.policy} runs none"
        if name.startswith("hpa_") and not {"keda", "hpa"} & set(policies):
            return (
                f"{_flag(name)} sets the HPA of the keda and hpa baselines: "
                f"--policy {args.policy} runs neither"
            )
    return None


def _knobs_given(args: argparse.Namespace) -> list[str]:
    """The baselines' knobs given on the command line (the others keep their defaults)."""
    names = (knob.name for knob in BaselineSettings.knobs())
    return [name for name in names if getattr(args, name) is not None]


def _flag(knob: str) -> str:
    return "--" + knob.replace("_", "-")


def _generate(args: argparse.Namespace) -> int:
    config = load_config(args.config or EXAMPLE_CONFIG)
    hours = 4.0 if args.hours is None else args.hours
    seed = 1 if args.seed is None else args.seed
    trace = generate(config, args.generate, hours, seed, tasks=args.tasks)
    write_trace(trace, sys.stdout)  # a closed pipe or a full disk: agentdash.cli.main says
    return 0


def _shown(trace: Path) -> str:
    """The bundled trace by its short name, not a path deep in site-packages."""
    if trace == STDIN:
        return "standard input"
    return "the bundled examples/trace.jsonl" if trace == BACKTEST_TRACE else str(trace)


def _svg(text: str) -> Path:
    """--plot: the plot is SVG, and a name that says otherwise would mislead."""
    if not text.lower().endswith(".svg"):
        raise argparse.ArgumentTypeError(f"expected a file name ending in .svg, got {text!r}")
    return Path(text)
