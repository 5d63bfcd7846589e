"""Running a set of shapes other than the suite's (held-out, agent-fleet, fresh) exactly as
the suite runs its own: its makings, build, backtest (`run_workload`), judge and table, every
pool on the defaults."""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Collection
from typing import Any
from unittest.mock import patch

import policy_suite as suite
from suite_summary import summarize
from workload_makings import Draft

from controller.core.config import ConfigError

Shapes = dict[str, Callable[[random.Random, float], Draft]]


def run_shape(shapes: Shapes, name: str, seed: int, scale: float = 1.0) -> dict[str, Any]:
    """One shape of `shapes` under the three policies, built, run and judged as the suite's
    are (its `run_workload` looks the shape up in its SHAPES, which hold `shapes` meanwhile)."""
    with patch.dict(suite.SHAPES, shapes, clear=True):
        return suite.run_workload(name, seed, scale=scale)


Options = Callable[[argparse.ArgumentParser], Callable[[argparse.Namespace], None]]
"""A set's own options: added to the parser, then applied once the command line is read."""


def main(
    shapes: Shapes,
    about: str,
    argv: list[str] | None = None,
    *,
    real: Collection[str] = (),
    options: Options | None = None,
) -> int:
    """`--seeds` and `--only` over `shapes`: each workload's table, the wins a seed, and the
    summary (`real`: the shapes built from real traces). Data a shape cannot read is one line
    and exit 2."""
    parser = argparse.ArgumentParser(description=about.splitlines()[0])
    parser.add_argument("--seeds", type=suite._seeds, default=[1], help="default 1; several: 1,2")
    parser.add_argument("--only", type=suite.names_in(shapes), help=f"some of {','.join(shapes)}")
    apply = options(parser) if options is not None else None
    args = parser.parse_args(argv)
    if apply is not None:
        apply(args)
    names: list[str] = args.only or list(shapes)
    start = time.perf_counter()
    wins: dict[int, int] = {}
    rows = []
    for seed in args.seeds:
        wins[seed] = 0
        for name in names:
            try:
                row = run_shape(shapes, name, seed)
            except ConfigError as exc:
                print(exc, file=sys.stderr)
                return 2
            wins[seed] += row["verdict"] == "WIN"
            rows.append(row)
            print(suite.table(row) + "\n", flush=True)
    for seed in args.seeds if len(args.seeds) > 1 else ():
        print(f"seed {seed}: agentdash wins {wins[seed]} of {len(names)}")
    print("\n".join(summarize(rows, real=real).lines()))
    print(f"wall time: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit("run a set: agent_shapes.py, holdout_shapes.py or fresh_shapes.py")
