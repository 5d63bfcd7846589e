"""`agentdash import requests FILE --pool NAME`: an LLM request log as a backtest trace.

Reads a log in one of the public production traces' formats (Azure LLM inference 2023 and
2024, BurstGPT, Mooncake, Qwen-Bailian: agentdash/request_logs.py) and prints it as the trace
`agentdash simulate` and `agentdash tune` replay, one task a request, in time order:

    {"t": s, "pool": NAME, "work_s": s, "tokens": n}

A log says what each request asked, not how long a worker took: `work_s` is estimated as the
prompt's tokens over --prefill-rate plus the completion's over --decode-rate (at least 10 ms),
and `tokens` is both. Several logs, each imported as its own pool, make a fleet's trace:
concatenated, in any order. What was read is said on stderr, with the `--start` that gives a
log of dates its calendar; a mistake is one line naming the file, the line and the field, and
nothing is printed on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import IO, Any

from agentdash import flags, standard_input
from agentdash.request_logs import FORMATS, MAX_LINE, Log, read_log
from controller.core.config import ConfigError
from controller.core.config_types import DAY
from controller.core.printable import printable
from controller.core.wording import plural
from controller.simulate.trace import bad_byte, bounded_lines, not_utf8

STDIN = Path("-")
MIN_WORK_S = 0.01
PREFILL_RATE, DECODE_RATE = 1000.0, 25.0
"""Tokens a second an LLM reads a prompt at, and writes a completion at: the default estimate
of a request's time, which the backtest's pod-seconds and waits then follow."""
MIN_RATE = 0.01
"""The slowest rate either flag takes: a token in 100 s. At it, a request of 864 tokens is
past the day a worker may take on one already, and a slower rate is a mistake in the flag
(a unit, a sign), better said of the flag than of every request's time."""


def _run(args: argparse.Namespace) -> int:
    source = "standard input" if args.file == STDIN else str(args.file)
    log = _read(args.file, source, args.format)
    if not log.requests:
        raise ConfigError(source, "", "expected at least one request, got none")
    prefill: float = args.prefill_rate
    decode: float = args.decode_rate
    works = [_work(r.context, r.generated, prefill, decode) for r in log.requests]
    for request, work in zip(log.requests, works, strict=True):
        if work > DAY:
            said = f"expected a request a worker finishes within a day, got {work:,.0f} s"
            raise ConfigError(source, f"line {request.line}", f"{said} at these rates")
    order = sorted(range(len(works)), key=lambda k: log.requests[k].t)
    out = sys.stdout
    for k in order:
        request = log.requests[k]
        task = {
            "t": round(request.t, 6),
            "pool": args.pool,
            "work_s": round(works[k], 6),
            "tokens": request.context + request.generated,
        }
        out.write(json.dumps(task))
        out.write("\n")
    out.flush()  # what was read is said once it is written: not before a full disk refuses it
    first, last = log.requests[order[0]].t, log.requests[order[-1]].t
    print(printable(_said(source, log, args.pool, last - first)), file=sys.stderr)
    return 0


def _read(path: Path, source: str, format: str | None) -> Log:
    expected = "a request a line"
    if path == STDIN:
        try:
            return _parsed(standard_input.piped("a request log"), source, format, expected)
        except UnicodeDecodeError as exc:
            raise bad_byte(source, exc) from None
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            return _parsed(file, source, format, expected)
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:  # its line and byte, as a trace's are named
        raise not_utf8(path, source, exc) from None


def _parsed(file: IO[str], source: str, format: str | None, expected: str) -> Log:
    lines = (line.rstrip("\r") for line in bounded_lines(file, source, MAX_LINE, expected))
    return read_log(lines, source, format)


def _work(context: int, generated: int, prefill: float, decode: float) -> float:
    """A request's time at the flags' rates: what a worker's slot is busy with it."""
    return max(MIN_WORK_S, context / prefill + generated / decode)


def _said(source: str, log: Log, pool: str, span: float) -> str:
    count = f"{plural(len(log.requests), 'request')} ({log.format})"
    said = f"{source}: {count} as pool {pool}'s tasks, {span / 3600:.1f} h"
    if log.day0 is not None:
        day = log.day0.isoformat()
        said += f"; t = 0 is {day} 00:00 UTC (simulate and tune: --start {day})"
    return said


def add_parser(sources: Any) -> None:
    """`agentdash import requests FILE --pool NAME`, under `agentdash import`."""
    command: argparse.ArgumentParser = sources.add_parser(
        "requests",
        help="an LLM request log (Azure, BurstGPT, Mooncake, Qwen-Bailian) as a trace",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument(
        "file", type=flags.input_path, metavar="FILE", help="the log; - for standard input"
    )
    command.add_argument(
        "--pool",
        type=flags.pool,
        required=True,
        metavar="NAME",
        help="the pool whose queue every request goes to (one of the config's pools)",
    )
    command.add_argument(
        "--format", choices=FORMATS, help="the log's format (default: told by its first line)"
    )
    rate = flags.number(MIN_RATE, 1e9)
    command.add_argument(
        "--prefill-rate",
        type=rate,
        default=PREFILL_RATE,
        metavar="TOKENS/S",
        help=f"prompt tokens read a second (default {PREFILL_RATE:g})",
    )
    command.add_argument(
        "--decode-rate",
        type=rate,
        default=DECODE_RATE,
        metavar="TOKENS/S",
        help=f"completion tokens written a second (default {DECODE_RATE:g})",
    )
    command.set_defaults(run=_run)
