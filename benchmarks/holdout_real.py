"""agentdash against KEDA and the HPA on a HELD-OUT real trace: never used to choose or tune rules.

This is a measurement only. Do not look at its results to pick a rule, a constant or a default,
and do not change a workload here to make a result better: once that happens it is no longer
held out, and a new held-out trace is needed. Develop and tune on benchmarks/policy_suite.py
(its synthetic shapes and the Azure real-trace workloads of benchmarks/real_traces.py).

The trace: the Mooncake FAST'25 conversation trace (Moonshot AI's Kimi, one hour of online
requests sampled: 12,031 requests; kvcache-ai/Mooncake, FAST25-release/traces/
conversation_trace.jsonl, at commit 3b5a594133958449a1feaf1c9e0fc1b553e34a28; the repository is
under the Apache License 2.0). It is NOT shipped in the repository, to keep it out of sight while
rules are tuned: it is read from /work/data/mooncake/ (or `--data DIR`). To get it:

    curl -LO https://raw.githubusercontent.com/kvcache-ai/Mooncake/3b5a594133958449a1feaf1c9e0fc1b553e34a28/FAST25-release/traces/conversation_trace.jsonl

Each line is a request, `{"timestamp": ms, "input_length": n, "output_length": n, "hash_ids":
[...]}`. Its timestamps come in steps of 3 s (a clump of ~10 requests each step): the requests
of a clump are spread evenly over its 3 s, in file order, before the workloads' own seeded
jitter. Everything else is benchmarks/real_traces.py's: work from tokens at the same rates
(context / 1,000 + generated / 25 seconds; input_length is the context, output_length the
generated tokens), the same six pools over three tiers, the same seeded split and jitters, and
the same variants, built and judged by the suite (`run_workload`), every pool on the defaults:
each request one task; agent sessions by the same gap rule (the trace's hash_ids, which would
tell real conversations apart, are not used, so sessions are made as the Azure ones are); a day
tiled from the hour with a budget that fits an early tenant's day with 15% to spare; and the
cluster's max_pods near the mean need.

    python benchmarks/holdout_real.py [--seeds 1,2,3] [--only NAME[,NAME]] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import policy_suite as suite
import shape_sets
from real_traces import (
    DAY,
    Request,
    budget_day,
    requests_workload,
    sessions_workload,
    tight_workload,
)
from workload_makings import HOUR, Draft

from controller.core.config import ConfigError
from controller.core.config_errors import shown

DATA = Path("/work/data/mooncake")
FILE = "conversation_trace.jsonl"
STEP_S = 3.0
"""The trace's timestamps come in steps of 3 s."""
KINDS = ("chat", "assist")
FIELDS = ("timestamp", "input_length", "output_length")
source: dict[str, Path] = {"conversation": DATA / FILE}
"""Where the trace is read from (`--data` changes it)."""


@cache
def load_mooncake(path: Path) -> tuple[Request, ...]:
    """The requests of a Mooncake trace, each clump of one timestamp spread over STEP_S.
    Raises ConfigError (`file:line: field: expected ...`) on a bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read file: {exc.strerror or exc}") from None
    clumps: dict[int, list[tuple[int, int]]] = {}
    for number, line in enumerate(lines, start=1):
        stamp, context, generated = _fields(line, str(path), number)
        clumps.setdefault(stamp, []).append((context, generated))
    if not clumps:
        raise ConfigError(str(path), "", "expected at least one request")
    first = min(clumps)
    return tuple(
        Request(t=(stamp - first) / 1000 + STEP_S * i / len(clump), context=c, generated=g)
        for stamp, clump in sorted(clumps.items())
        for i, (c, g) in enumerate(clump)
    )


def _fields(line: str, source_name: str, number: int) -> tuple[int, int, int]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(source_name, "", f"expected a JSON object: {exc.msg}", number) from None
    if not isinstance(row, dict):
        raise ConfigError(source_name, "", "expected a JSON object", number)
    values = []
    for name in FIELDS:
        value = row.get(name)
        if type(value) is not int or not 0 <= value < 10**12:
            message = f"expected a whole number, 0 or more, got {shown(value)}"
            raise ConfigError(source_name, name, message, number)
        values.append(value)
    return values[0], values[1], values[2]


def mooncake(scale: float) -> list[Request]:
    """The first `scale` of the Mooncake conversation hour."""
    return [r for r in load_mooncake(source["conversation"]) if r.t < HOUR * scale]


# --- the held-out workloads, as real_traces' Azure ones -------------------------------------


def mooncake_conv_requests(rng: random.Random, scale: float) -> Draft:
    about = "Mooncake conversation hour (held out), each LLM request one task, 2 at once a pod"
    return requests_workload(rng, mooncake(scale), KINDS, 2, about)


def mooncake_conv_sessions(rng: random.Random, scale: float) -> Draft:
    about = "Mooncake conversation hour (held out), runs of 3-12 requests as agent sessions"
    return sessions_workload(rng, mooncake(scale), KINDS, about)


def mooncake_conv_day(rng: random.Random, scale: float) -> Draft:
    about = (
        "the Mooncake conversation hour (held out) tiled over a day, diurnal, 2 at once a "
        "pod; globex's traffic early in the UTC day, its budget fits with 15% to spare"
    )
    return budget_day(rng, mooncake(1.0), KINDS, DAY * scale, 2, about)


def mooncake_conv_tight(rng: random.Random, scale: float) -> Draft:
    about = "Mooncake conversation hour (held out), the cluster's max_pods ~ mean need"
    return tight_workload(rng, mooncake(scale), KINDS, 2, about)


HOLDOUT: dict[str, Callable[[random.Random, float], Draft]] = {
    shape.__name__: shape
    for shape in (mooncake_conv_requests, mooncake_conv_sessions, mooncake_conv_day,
                  mooncake_conv_tight)
}  # fmt: skip
assert not HOLDOUT.keys() & suite.SHAPES.keys(), "a held-out workload has a suite shape's name"


def _data(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], None]:
    parser.add_argument("--data", type=Path, default=DATA, help=f"the trace's folder ({DATA})")

    def use(args: argparse.Namespace) -> None:
        source["conversation"] = args.data / FILE

    return use


def main(argv: list[str] | None = None) -> int:
    return shape_sets.main(HOLDOUT, __doc__ or "", argv, real=HOLDOUT, options=_data)


if __name__ == "__main__":
    sys.exit(main())
