"""`agentdash simulate`: placeholder until the backtest lands (issue 6)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "simulate", help="replay a trace in virtual time and compare with KEDA and the HPA"
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    print("agentdash simulate: not built yet")
    return 2
