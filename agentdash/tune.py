"""`agentdash tune`: search each pool's (or tier's) behavior, cooldown and keep-alive weight on
a trace.

    agentdash tune --config FILE --trace FILE [--start YYYY-MM-DD]
                   [--objective both|p95|cost|balanced[:W]]
                   [--holdout 0.3] [--by pool|tier] [--trials N] [--time-budget S]
                   [--seed N] [--workers N] [--drain S] [--output FILE]

The work is in controller.simulate.tune and agentdash.config_edit; this module reads
arguments and prints the lines agentdash.tune_report writes.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agentdash import flags
from agentdash.help_text import FilledDescription
from agentdash.output_files import check_distinct, check_writable, write_text
from agentdash.standard_input import named
from agentdash.tune_report import (
    MAX_TIME_BUDGET_S,
    chosen_settings,
    does_worse,
    heading,
    holdout_check,
    nothing_to_change,
    pareto_front,
)
from controller.core.config import Config, ConfigError
from controller.core.wording import plural
from controller.simulate.trace import MAX_TRACE_SECONDS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from controller.simulate.behavior_grid import Group
    from controller.simulate.trace import Trace
    from controller.simulate.tradeoff import Objective
    from controller.simulate.tune import Search, Split


EXIT_WORSE = 1
"""The pick does worse than the current config on the held-out tail: --output is not written."""
DEFAULT_TRIALS = 96
DEFAULT_TIME_BUDGET_S = 90.0
MAX_TRIALS = 100_000
MAX_WORKERS = 1024
POOLS_FOR_TIERS = 6
"""Above this many pools, the search is by tier unless --by says otherwise."""

DESCRIPTION = """\
Search each pool's (or tier's) `behavior` (scale-up and scale-down windows and rate
policies), `cooldown_seconds` and `keep_alive.wait_weight` on a trace, with agentdash's own
backtest, in parallel processes. The last --holdout fraction of the trace (by time) is kept
out of the search; the chosen config and the current one are then both replayed on it.
Prints the Pareto front of queue-wait p95 against pod-seconds over the candidates tried, the
held-out check, and the change as a unified diff of FILE (`patch FILE` applies it; --output
writes the result). Where YAML aliases in FILE share a value between pools tuned apart, the
diff is of its data written out plainly, and says so: no diff of FILE would apply.

p95 counts the tasks no token budget or pause held back; their own p95 is shown beside it,
and no objective picks a candidate that raises it; nor does any but balanced pick one that
raises the p99. Scale events (churn) are shown beside each candidate but not scored.

objectives (each picks a point of the front, or keeps the current config):
  both          (the default) the lowest balanced score among candidates no worse than the
                current on both p95 and pod-seconds: no wait is bought with cost, or cost
                with wait
  p95           the lowest p95 among candidates with no more pod-seconds than the current
  cost          the fewest pod-seconds among candidates with no higher p95 than the current
  balanced[:W]  the lowest ((p95 + C) / (current p95 + C))^W x (pod-seconds / current)^(1-W),
                W in (0, 1), default 0.5: halving the cost is worth doubling the p95; C is
                the pools' mean cold start (at least 1 s): a wait shorter than a cold start
                is about a warm pod's. The current config scores 1.

the search space, per group: up window 0-60 s; up at most max(50-400 %, 1-20 pods) per
15-60 s; down window 30-600 s; down at most 10-100 % per 15-60 s; cooldown 0-600 s
(tolerances are kept); or, keeping the learned keep-alive (no down rule, no cooldown), its
weight of waiting 0.5-5. A quarter of the trials are random, most of the rest mutate the best
so far and points of the front, 8 at a time (so at most 8 processes help); the last ones undo
the pick's changes one by one, and within 1% of the best the candidate that changes less is
chosen. The same arguments give the same search on any machine, unless --time-budget stops
it early. In a checkout of the source, `make accel` makes each replay about twice as fast.

exit status: 0 when the pick beats or matches the current config on the held-out tail, or
there is nothing to change, or no check (--holdout 0); 1 when it does worse there (the diff
is printed, --output is not written: a script does not apply a regression); 2 for a mistake
in a flag or a file.
"""


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "tune",
        help="search each pool's behavior, cooldown and keep-alive weight on a trace (Pareto "
        "front, YAML diff)",
        description=DESCRIPTION,
        formatter_class=FilledDescription,
    )
    parser.add_argument(
        "--config", type=flags.path, required=True, metavar="FILE", help="agentdash.yaml"
    )
    parser.add_argument(
        "--trace",
        type=flags.input_path,
        required=True,
        metavar="FILE",
        help="JSON lines, one task each (as agentdash simulate); - for standard input",
    )
    flags.add_start(parser)
    _add_search_arguments(parser)
    parser.add_argument(
        "--output", type=flags.output_path, metavar="FILE", help="also write the tuned config here"
    )
    parser.set_defaults(run=_run)


def _add_search_arguments(parser: argparse.ArgumentParser) -> None:
    """How the search runs and picks: each checked as the parser reads it, so that a bad one
    is one line naming it, as every command's flags are (agentdash.flags)."""
    parser.add_argument(
        "--objective",
        type=_objective,
        default="both",
        metavar="both|p95|cost|balanced[:W]",
        help="how to pick from the front (default both)",
    )
    parser.add_argument(
        "--holdout",
        type=_holdout,
        default=0.3,
        metavar="F",
        help="the last F of the trace's time span, kept out of the search "
        "to check the choice on; 0 <= F < 1, 0: no check (default 0.3)",
    )
    parser.add_argument(
        "--by",
        choices=["pool", "tier"],
        help=f"one setting per pool, or per tier (default: pool for up to "
        f"{POOLS_FOR_TIERS} pools, tier above)",
    )
    parser.add_argument(
        "--trials",
        type=flags.whole(2, MAX_TRIALS),
        default=DEFAULT_TRIALS,
        metavar="N",
        help=f"candidates to replay, the current config included (default {DEFAULT_TRIALS})",
    )
    parser.add_argument(
        "--time-budget",
        type=flags.number(0, MAX_TIME_BUDGET_S),
        default=DEFAULT_TIME_BUDGET_S,
        metavar="S",
        help="start no batch of candidates that would end later than this "
        f"(default {DEFAULT_TIME_BUDGET_S:g}; 0: no limit)",
    )
    parser.add_argument(
        "--seed",
        type=flags.whole(0, flags.MAX_SEED),
        default=1,
        metavar="N",
        help="another seed draws another search (default 1)",
    )
    parser.add_argument(
        "--workers",
        type=flags.whole(1, MAX_WORKERS),
        default=os.cpu_count() or 1,
        metavar="N",
        help=f"processes side by side (default: the cores, here {os.cpu_count() or 1})",
    )
    parser.add_argument(
        "--drain",
        type=flags.number(0, MAX_TRACE_SECONDS),  # as simulate --drain
        default=3600.0,
        metavar="S",
        help="replay each part this long after its end (default 3600)",
    )


def _holdout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < 1:  # (NaN is not)
        raise argparse.ArgumentTypeError(f"expected a number >= 0 and < 1, got {text!r}")
    return value


def _objective(text: str) -> Objective:
    from controller.simulate.tradeoff import Objective

    try:
        return Objective.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class _Options:
    holdout: float
    trials: int
    time_budget: float | None
    seed: int
    workers: int
    drain: float
    objective: Objective


def _options(args: argparse.Namespace) -> _Options:
    """The search's numbers, as the parser checked them."""
    return _Options(
        holdout=args.holdout,
        trials=args.trials,
        time_budget=args.time_budget or None,
        seed=args.seed,
        workers=args.workers,
        drain=args.drain,
        objective=args.objective,
    )


def _run(args: argparse.Namespace) -> int:
    from agentdash.simulate import load_tasks, replayed
    from controller.core.config import load_config
    from controller.core.input_files import BOM, read_text
    from controller.simulate import behavior_grid, tune
    from controller.simulate.tradeoff import warm_wait

    options = _options(args)
    if args.output is not None:
        check_writable(args.output)  # before the search, not after it
        # the config may be tuned in place (its text is read first); the trace never is
        check_distinct({"--output": args.output}, {"--trace": args.trace})
    # once (a pipe is read once), kept for the diff and --output: its byte order mark too
    text = read_text(args.config, "YAML", bom=True)
    config = replayed(load_config(args.config, text.removeprefix(BOM)), args.start)
    objective = replace(options.objective, warm_s=warm_wait(config))
    trace = load_tasks(args.trace, config)
    parts = tune.split(trace, options.holdout)
    if not len(parts.head):
        raise _nothing_before_the_tail(args, len(trace))
    by: Literal["pool", "tier"] = args.by or (
        "tier" if len(config.pools) > POOLS_FOR_TIERS else "pool"
    )
    groups = behavior_grid.groups(config, parts.head, by)
    found = tune.search(
        config,
        parts.head,
        groups,
        horizon=tune.horizon_of(parts.head, parts.at, options.drain),
        objective=objective,
        trials=options.trials,
        seed=options.seed,
        workers=options.workers,
        time_budget=options.time_budget,
        progress=_progress if sys.stderr.isatty() else None,
    )
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
    out = [heading(args, by, found, parts, len(trace), options.workers)]
    out += _not_tuned(config, by, trace, groups)
    out += ["", *pareto_front(found), ""]
    chosen = found.chosen
    if chosen.number == 0:
        out.append(nothing_to_change(found))
        if args.output is not None:
            write_text(args.output, text)  # --output is the tuned config, here the same
        print("\n".join(out))
        return 0
    out += [*chosen_settings(found), ""]
    checked, worse = _held_out(config, found, parts, trace.duration, options, objective)
    out += [*checked, ""]
    out.append(_diff(args, text, config, found, write=not worse))
    print("\n".join(out))
    return _not_written(args.output) if worse else 0


def _not_tuned(
    config: Config, by: Literal["pool", "tier"], trace: Trace, groups: Sequence[Group]
) -> list[str]:
    """The pools (or tiers) left as they are, in config order: those with tasks only in the
    held-out tail apart from those with none in the whole trace (a pool the trace never
    mentions has no task before the tail either, but the tail is not why)."""
    from controller.simulate.behavior_grid import groups as groups_of
    from controller.simulate.report import tiers_in_order

    anywhere = {g.name for g in groups_of(config, trace, by)}
    searched = {g.name for g in groups}
    used = set(config.tier_of.values())
    names = list(config.pools) if by == "pool" else [t for t in tiers_in_order(config) if t in used]
    lines = []
    tail_only = [name for name in names if name in anywhere and name not in searched]
    if tail_only:
        lines.append(f"not tuned, no task before the tail: {', '.join(tail_only)}")
    never = [name for name in names if name not in anywhere]
    if never:
        lines.append(f"not tuned, no task in the trace: {', '.join(never)}")
    return lines


def _not_written(output: Path | None) -> int:
    """A pick that does worse on the held-out tail: --output kept as it was, and said so."""
    if output is not None:
        said = "not written: the chosen config does worse than the current one on the held-out tail"
        print(f"agentdash: {output}: {said}", file=sys.stderr)
    return EXIT_WORSE


def _nothing_before_the_tail(args: argparse.Namespace, tasks: int) -> ConfigError:
    """A trace whose tasks all arrive at one instant has no time span to hold a tail out of."""
    said = (
        "its one task leaves no span of time to hold a tail out of"
        if tasks == 1
        else f"its {plural(tasks, 'task')} all arrive at once, leaving no span of time to "
        "hold a tail out of"
    )
    return ConfigError(
        named(args.trace),
        "",
        f"--holdout {args.holdout} leaves no task to search on: {said} (try --holdout 0: "
        "the search uses every task, with no held-out check)",
    )


def _held_out(
    config: Config,
    found: Search,
    parts: Split,
    duration: float,
    options: _Options,
    objective: Objective,
) -> tuple[list[str], bool]:
    """The current config and the pick, replayed on the held-out tail, and whether the pick
    does worse there."""
    from controller.simulate import tune

    if not len(parts.tail):
        return ["held-out check: none (--holdout 0)"], False
    current, picked = tune.check(
        config.replayed_later(parts.at),  # the tail's budget days where they were
        found.groups,
        [found.current.candidate, found.chosen.candidate],
        parts.tail,
        tune.horizon_of(parts.tail, 0.0, options.drain),
        options.workers,
    )
    lines = holdout_check(objective, parts, duration, current, picked)
    return lines, does_worse(objective, current, picked)


def _diff(
    args: argparse.Namespace, text: str, config: Config, found: Search, *, write: bool
) -> str:
    """The chosen config's change as a unified diff of the file (and --output written, if
    `write`)."""
    from agentdash.config_edit import data_diff, edit_pools, unified_diff
    from controller.simulate.behavior_grid import configure

    candidate = found.chosen.candidate
    tuned = configure(config, found.groups, candidate)
    changes = {
        name: fields
        for group, setting in zip(found.groups, candidate, strict=True)
        if setting is not None
        for name in group.pools
        if (fields := setting.fields(config.pools[name]))
    }
    after, kept = edit_pools(text, changes, tuned)
    if args.output is not None and write:
        write_text(args.output, after)
    diff = unified_diff if kept else data_diff
    return diff(text, after, str(args.config)).rstrip("\n")


def _progress(done: int, trials: int, seconds: float) -> None:
    sys.stderr.write(f"\rtune: {done}/{trials} candidates, {seconds:.0f} s")
    sys.stderr.flush()
