"""The example files that ship inside the package, and `agentdash example`, which prints one
to start a config from.

    agentdash example config          the example fleet (what `demo` runs)
    agentdash example backtest        the same fleet with production windows (`simulate`)
    agentdash example observations    one tick of observations (`plan`)
    agentdash example trace           a 3-hour trace of that fleet (`simulate`)
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).parent / "examples"
EXAMPLE_CONFIG = EXAMPLES / "agentdash.yaml"
BACKTEST_CONFIG = EXAMPLES / "backtest.yaml"
BACKTEST_TRACE = EXAMPLES / "trace.jsonl"
OBSERVATIONS = EXAMPLES / "observations.json"

FILES = {
    "config": EXAMPLE_CONFIG,
    "backtest": BACKTEST_CONFIG,
    "observations": OBSERVATIONS,
    "trace": BACKTEST_TRACE,
}


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "example",
        help="print a bundled example file (config, backtest, observations, trace)",
        description="Print a bundled example file on stdout, to start your own from: "
        "agentdash example config > agentdash.yaml",
    )
    parser.add_argument("name", choices=FILES, metavar="|".join(FILES))
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    with FILES[args.name].open("rb") as bundled:
        shutil.copyfileobj(bundled, sys.stdout.buffer)  # as it is, comments and all
    return 0
