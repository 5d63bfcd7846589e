"""`agentdash import requests FILE --pool NAME`: an LLM request log as a backtest trace.

Reads a log in one of the public production traces' formats (Azure LLM inference 2023 and
2024, BurstGPT, Mooncake, Qwen-Bailian) and prints it as the trace `agentdash simulate` and
`agentdash tune` replay, one task a request, in time order:

    {"t": s, "pool": NAME, "work_s": s, "tokens": n}

`work_s` is the request's own latency where the log has it (BurstGPT's `Elapsed time`);
elsewhere it is estimated as the prompt's tokens over --prefill-rate plus the completion's
over --decode-rate (at least 10 ms). `tokens` is both. A trace spans at most 31 days: a longer
log (BurstGPT's are months) is imported a part at a time, with --days and --from-day. Several
logs, each imported as its own pool (or one log as several, with --only), make a fleet's
trace: concatenated, in any order (logs of dates imported with one --start, so that their
days line up). What was read is said on
stderr, with the `--start` that gives a log of dates its calendar; a mistake is one line
naming the file, the line and the field, and nothing is printed on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from array import array
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from agentdash import flags, standard_input
from agentdash.help_text import FilledDescription
from agentdash.request_logs import FORMATS, MAX_LINE, Log, Only, read_log
from agentdash.request_said import said
from agentdash.request_window import MAX_DAYS, Placed, place
from controller.core.config import ConfigError
from controller.core.config_types import DAY
from controller.core.printable import printable
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
    log = _read(args.file, source, args.format, tuple(args.only or ()))
    on = None if args.start is None else datetime.fromtimestamp(args.start, UTC).date()
    placed = place(log, source, args.from_day, args.days, on)
    works = _works(log, placed, source, args.prefill_rate, args.decode_rate)
    pool = json.dumps(args.pool)
    out, times, start = sys.stdout, log.times, placed.start
    context, generated = log.context, log.generated
    chunk: list[str] = []
    for k in placed.order:  # written as json.dumps would, a few thousand lines a write
        t, work, tokens = round(times[k] - start, 6), round(works[k], 6), context[k] + generated[k]
        chunk.append(f'{{"t": {t!r}, "pool": {pool}, "work_s": {work!r}, "tokens": {tokens}}}\n')
        if len(chunk) == 4096:
            out.write("".join(chunk))
            chunk.clear()
    out.write("".join(chunk))
    out.flush()  # what was read is said once it is written: not before a full disk refuses it
    for line in said(source, log, placed, args.pool):
        print(printable(line), file=sys.stderr)
    return 0


def _works(log: Log, placed: Placed, source: str, prefill: float, decode: float) -> array[float]:
    """Each request's time: its latency where the log has it, else from its tokens at the
    flags' rates: what a worker's slot is busy with it. A request past a day is refused."""
    works = array("d", [0.0]) * len(log.times)
    elapsed = log.elapsed
    for k in placed.order:
        took = elapsed[k] if elapsed is not None else math.nan
        if math.isnan(took):
            took = log.context[k] / prefill + log.generated[k] / decode
            if took > DAY:
                said = f"expected a request a worker finishes within a day, got {took:,.0f} s"
                raise ConfigError(source, f"line {log.lines[k]}", f"{said} at these rates")
        works[k] = max(MIN_WORK_S, took)
    return works


def _read(path: Path, source: str, format: str | None, only: Only) -> Log:
    expected = "a request a line"
    if path == STDIN:
        try:
            return _parsed(standard_input.piped("a request log"), source, format, only, expected)
        except UnicodeDecodeError as exc:
            raise bad_byte(source, exc) from None
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            return _parsed(file, source, format, only, expected)
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:  # its line and byte, as a trace's are named
        raise not_utf8(path, source, exc) from None


def _parsed(file: IO[str], source: str, format: str | None, only: Only, expected: str) -> Log:
    lines = (line.rstrip("\r") for line in bounded_lines(file, source, MAX_LINE, expected))
    return read_log(lines, source, format, only)


def add_parser(sources: Any) -> None:
    """`agentdash import requests FILE --pool NAME`, under `agentdash import`."""
    command: argparse.ArgumentParser = sources.add_parser(
        "requests",
        help="an LLM request log (Azure, BurstGPT, Mooncake, Qwen-Bailian) as a trace",
        description=__doc__,
        formatter_class=FilledDescription,
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
    command.add_argument(
        "--only",
        type=_field_value,
        action="append",
        metavar="NAME=VALUE",
        help="keep the requests whose field NAME (a CSV's column, a JSON line's key) is VALUE,"
        " as 'Model=GPT-4' or 'Log Type=API log' in BurstGPT's, 'type=image' in Bailian's;"
        " given again, each must match",
    )
    command.add_argument(
        "--days",
        type=_count(1, MAX_DAYS),
        metavar="N",
        help=f"keep N days of the log (at most {MAX_DAYS}, a trace's longest), from --from-day;"
        " the rest is left out (default: all, refused past that)",
    )
    first = command.add_mutually_exclusive_group()  # the first day kept: by its number or date
    first.add_argument(
        "--from-day",
        type=_count(0, 100_000),
        default=0,
        metavar="N",
        help="the log's day the trace starts with, 0 its first (default 0): the days before it"
        " are left out",
    )
    first.add_argument(
        "--start",
        type=flags.day,
        metavar="YYYY-MM-DD",
        help="for a log of dates: the trace's t = 0 is this date's midnight UTC, not the log's"
        " first day's (the rows before it are left out): logs imported with one --start make"
        " one calendar",
    )
    command.set_defaults(run=_run)


def _field_value(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, as Model=GPT-4, got {text!r}")
    return name.strip(), value.strip()


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.strip().isdigit() or not low <= int(text) <= high:
            expected = f"a whole number, {low} to {high:,}"
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return int(text)

    return parse
