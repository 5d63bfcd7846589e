"""The `agentdash` command: one program, several jobs.

    agentdash check-config FILE                         validate and summarise a config
    agentdash plan --config FILE --observations FILE    one tick's decisions as JSON
    agentdash demo [--headless ...]                     the embedded demo fleet

User mistakes (bad config, bad input) print one line and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from controller.config import ConfigError, load_config

EXIT_USAGE = 2
EXAMPLE_CONFIG = Path(__file__).parent / "examples" / "agentdash.yaml"


def _check_config(args: argparse.Namespace) -> int:
    from agentdash.summary import summarize

    config = load_config(args.file)
    print(summarize(config, str(args.file)))
    return 0


def _plan(args: argparse.Namespace) -> int:
    from controller.observations_file import load_observations
    from controller.policy import decide

    config = load_config(args.config)
    given = load_observations(args.observations, config)
    decisions = decide(config, given.observations, given.overrides, given.history, given.now)
    json.dump({"decisions": [d.as_dict() for d in decisions]}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentdash",
        description="Autoscale AI-agent worker fleets from queue lag, token budgets and "
        "tier priorities, and see why.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser("check-config", help="validate a config file and summarise it")
    check.add_argument("file", type=Path, metavar="FILE")
    check.set_defaults(run=_check_config)

    plan = commands.add_parser("plan", help="print one tick's scale decisions as JSON")
    plan.add_argument("--config", type=Path, required=True, metavar="FILE")
    plan.add_argument("--observations", type=Path, required=True, metavar="FILE")
    plan.set_defaults(run=_plan)

    from agentdash import simulate
    from agentdash.demo import command as demo

    demo.add_parser(commands)
    simulate.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return run(args)
    except ConfigError as exc:
        print(f"agentdash: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
